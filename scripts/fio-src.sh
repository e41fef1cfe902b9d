#!/usr/bin/env bash
# Fetch the source of the fio that Debian ships (same version as /usr/bin/fio)
# and configure it like Debian's build, so the lxds fio engine compiles
# against headers whose struct layouts match the installed fio binary.
# Usage: scripts/fio-src.sh DEST_DIR     Prints the configured source dir.
set -euo pipefail
dest=${1:?usage: scripts/fio-src.sh DEST_DIR}
ver=$(dpkg-query -W -f='${Version}' fio 2>/dev/null) || { echo "fio is not installed" >&2; exit 1; }
upstream=${ver%%-*}
src="$dest/fio-$upstream"
if [ -f "$src/config-host.h" ] && [ -f "$src/.lxds-configured" ]; then
  echo "$src"
  exit 0
fi
mkdir -p "$dest"
# apt-get source needs a deb-src entry; add Debian's own if there is none.
if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat > /etc/apt/sources.list.d/lxds-deb-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq
fi
echo "lxds: fetching fio $ver source (apt-get source) into $dest" >&2
(cd "$dest" && apt-get source -qq "fio=$ver" >/dev/null 2>&1) || {
  echo "lxds: apt-get source fio=$ver failed" >&2; exit 1; }
# Debian configures with: --disable-native --prefix=/usr (plus gfio/libnbd,
# which add engines but change no struct). The -dev packages that do change
# layouts (libaio, libnuma, rdma) are in scripts/debian-packages.txt.
(cd "$src" && ./configure --disable-native --prefix=/usr >"$dest/fio-configure.log" 2>&1) || {
  echo "lxds: fio configure failed, see $dest/fio-configure.log" >&2; exit 1; }
for c in CONFIG_LIBAIO CONFIG_LIBNUMA CONFIG_RDMA; do
  grep -q "define $c\$" "$src/config-host.h" || {
    echo "lxds: fio configured without $c: the engine's view of fio structs would not match Debian's fio" >&2; exit 1; }
done
touch "$src/.lxds-configured"
echo "$src"
