# shellcheck shell=sh
# certbot WEBROOT DOMAIN EMAIL SERVER [CA_BUNDLE]: obtains (or renews) the certificate for DOMAIN
# over HTTP-01 from the ACME directory SERVER, trusting CA_BUNDLE to reach a private ACME server.

cmd_certbot() {
  [ $# -eq 4 ] || [ $# -eq 5 ] || die "$MI_EXIT_USAGE" "usage: certbot WEBROOT DOMAIN EMAIL SERVER [CA_BUNDLE]"
  if [ $# -eq 5 ]; then
    REQUESTS_CA_BUNDLE=$5
    export REQUESTS_CA_BUNDLE
  fi
  certbot certonly --webroot -w "$1" -d "$2" -m "$3" --server "$4" --agree-tos --non-interactive --no-eff-email \
    --cert-name "$2" --key-type ecdsa --force-renewal --quiet || exit "$MI_EXIT_FAILED"
}
