#!/bin/sh
# Regenerates the signature golden vectors with OpenSSL, independently of the
# Go code under test. Run from this directory: sh gen.sh
# Each vector NAME has NAME.body (raw bytes), NAME.meta (path, appId,
# timestamp, nonce; written by hand), and gets NAME.sts (the exact
# string-to-sign) and NAME.golden (body hash, HMAC hex, RSA base64).
set -eu
SECRET='test-secret-do-not-use'
KEY=../rsa_test_key.pem
for meta in *.meta; do
	name=${meta%.meta}
	. "./$meta"
	hash=$(openssl dgst -sha256 -hex < "$name.body" | sed 's/.*= //')
	printf 'POST\n%s\n%s\n%s\n%s\n%s' "$path" "$appId" "$timestamp" "$nonce" "$hash" > "$name.sts"
	hmac=$(openssl dgst -sha256 -mac HMAC -macopt "key:$SECRET" -hex < "$name.sts" | sed 's/.*= //')
	rsa=$(openssl dgst -sha256 -sign "$KEY" < "$name.sts" | base64 -w0)
	printf 'bodyHash=%s\nhmac=%s\nrsa=%s\n' "$hash" "$hmac" "$rsa" > "$name.golden"
done
