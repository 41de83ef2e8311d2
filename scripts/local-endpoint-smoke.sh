#!/usr/bin/env bash
# On the deployer's machine, after the service is deployed behind the load balancer:
# succeed once ENDPOINT (serviceEndpoint) answers HTTP ANSWERS times in a row, from
# here, as a client does. A new load balancer's DNS name and first health checks take
# minutes, so it is asked again until TIMEOUT (seconds).
# With https the certificate is not checked: it names the user's domain, which may not
# point at this load balancer yet; what is checked is that the listener answers.
# Parameters: ENDPOINT, TIMEOUT, ANSWERS.
set -euo pipefail
: "${ENDPOINT:?}" "${TIMEOUT:?}" "${ANSWERS:?}"
command -v curl >/dev/null || fail "curl is not installed on this machine: it asks serviceEndpoint ($ENDPOINT)"

in_a_row=0
said=""
answers() {
  local code
  code=$(curl -ksS -o /dev/null -w '%{http_code}' --max-time 10 "$ENDPOINT" 2>&1) || {
    said=$code
    in_a_row=0
    return 1
  }
  case "$code" in
    2??|3??) in_a_row=$((in_a_row + 1)) ;;
    *) said="HTTP $code"; in_a_row=0; return 1 ;;
  esac
  [ "$in_a_row" -ge "$ANSWERS" ]
}
retry "$TIMEOUT" answers || fail "serviceEndpoint $ENDPOINT did not answer $ANSWERS times in a row within ${TIMEOUT}s (last: ${said:-no answer}); is this machine's address in appAllowedCidrs?"
log "serviceEndpoint $ENDPOINT answered $ANSWERS times in a row"
echo "$ENDPOINT answers"
