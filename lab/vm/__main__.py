"""`python -m lab.vm up|down|status`: see lab/vm/vmlab.py."""

from lab.vm.vmlab import main

raise SystemExit(main())
