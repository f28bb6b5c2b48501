#!/usr/bin/env bash
# Installs the Debian packages mpqlab uses, when it can (root + apt-get); otherwise says what is missing.
set -u
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
[ ${#need[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null \
    && exit 0
  echo "warning: apt-get could not install ${need[*]}" >&2
else
  echo "warning: cannot install Debian packages ${need[*]} (needs root and apt-get)" >&2
fi
for p in "${need[@]}"; do
  case $p in
    chromium) echo "  - without chromium: figures are saved as HTML only (no PNG/SVG); the browser test is skipped" >&2;;
    dataset-fashion-mnist) echo "  - without dataset-fashion-mnist: point MPQLAB_DATA at a folder with fashion-mnist/ IDX files" >&2;;
  esac
done
exit 0
