"""`python -m lab.vm up|down|status|roll`: see lab/vm/vmlab.py."""

from lab.vm.vmlab import main

raise SystemExit(main())
