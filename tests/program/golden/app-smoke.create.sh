MODE=mesh
NETWORK=testapp-net
NODE_ADDRS='10.0.0.11 10.0.0.21 10.0.0.22'
PROBE_IMAGE=busybox:1.36
PUBLISHED_PORT=5001
REPLICAS=2
SERVICE=testapp
TARGET_PORT=5000
TIMEOUT=300
# <scripts/lib.sh>

# <scripts/swarm-smoke.sh>
