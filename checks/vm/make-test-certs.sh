# Usage: bash make-test-certs.sh OUT HOST...
# A throwaway CA (OUT/ca.pem) and, for each HOST, a server certificate (OUT/HOST.pem) and key
# (OUT/HOST.key) with the host as subjectAltName (Go and Python ignore the common name).
# Valid for a century, so a cached build keeps working.
set -euo pipefail
out="$1"
shift
mkdir -p "$out"
work="$(mktemp -d)"

cat >"$work/ca.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = gitlab-mattermost VM test CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
openssl req -x509 -config "$work/ca.cnf" -extensions ca -newkey rsa:2048 -nodes \
  -keyout "$work/ca.key" -out "$out/ca.pem" -days 36500

serial=1
for host in "$@"; do
  cat >"$work/$host.ext" <<EXT
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:$host
authorityKeyIdentifier = keyid
EXT
  openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$host" \
    -keyout "$out/$host.key" -out "$work/$host.csr"
  openssl x509 -req -in "$work/$host.csr" -CA "$out/ca.pem" -CAkey "$work/ca.key" \
    -set_serial "$serial" -days 36500 -extfile "$work/$host.ext" -out "$out/$host.pem"
  serial=$((serial + 1))
done
rm -rf "$work"
