#!/bin/sh
# The scenario's ansible-vault password: random, made once per molecule ephemeral directory
# (ANSIBLE_VAULT_PASSWORD_FILE in molecule.yml points here; ansible runs it and reads stdout).
set -eu
file="${MOLECULE_EPHEMERAL_DIRECTORY:?run this through molecule}/vault.pass"
if [ ! -s "$file" ]; then
  umask 077
  mkdir -p "$(dirname "$file")"
  head -c 32 /dev/urandom | base64 > "$file.tmp"
  mv "$file.tmp" "$file"
fi
cat "$file"
