# <scripts/lib.sh>

# <scripts/node-ready.sh>
