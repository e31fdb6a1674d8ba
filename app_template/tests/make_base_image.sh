#!/usr/bin/env bash
# Makes a local base image for tests/test_image.py where no registry can be pulled from (Debian, root):
# a minimal bookworm with python3 from Debian's packages, trusting this machine's CA certificates so
# pip inside a build reaches the index the way the host does.
#   usage: bash tests/make_base_image.sh [IMAGE]   (default localhost/python-base:bookworm)
set -euo pipefail
image="${1:-localhost/python-base:bookworm}"
mirror="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)"
rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
apt-get install -y -qq debootstrap podman runc >/dev/null
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" \
    "${mirror:-http://deb.debian.org/debian}" >/dev/null
cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
chroot "$rootfs" update-ca-certificates >/dev/null
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | podman import \
    --change "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt" \
    --change 'CMD ["python3"]' - "$image"
