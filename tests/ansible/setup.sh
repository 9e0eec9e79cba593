#!/usr/bin/env bash
# Ansible for tests/api/test_load_balancer_ansible.py, in its own venv (gitignored):
# ansible-core from PyPI, and the openstack.cloud collection taken out of the `ansible`
# community package's wheel (PyPI; no collection tarball is on PyPI by itself), so the
# ~500 MB of other collections that package installs stay out. The playbook's modules run
# with this venv's Python and its openstacksdk: openstack.cloud 2.5.0 reads
# openstack.version, which openstacksdk dropped in 4.15, so it is pinned below that here.
#   bash tests/ansible/setup.sh          # about 30-60 s on the development machine
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv="$here/.venv-ansible"
python="${PYTHON:-$root/.venv/bin/python}"
ANSIBLE_CORE="ansible-core~=2.19.5"   # what ansible 12.3.0 requires (Python 3.11)
ANSIBLE="ansible==12.3.0"             # the last release for Python 3.11: openstack.cloud 2.5.0
OPENSTACKSDK="openstacksdk<4.15"      # the newest that openstack.cloud 2.5.0 works with

if [ -x "$venv/bin/ansible-playbook" ] && "$venv/bin/python" -c "import openstack.version" 2>/dev/null && [ -f "$venv/collections/ansible_collections/openstack/cloud/MANIFEST.json" ]; then
    echo "ansible: $venv is ready"
    exit 0
fi
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "$ANSIBLE_CORE" "$OPENSTACKSDK"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps -d "$tmp" "$ANSIBLE"
"$venv/bin/python" - "$tmp" "$venv/collections" <<'PY'
import sys, zipfile, pathlib
src, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(src.glob("ansible-*.whl"))
prefix = "ansible_collections/openstack/cloud/"
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith(prefix)]
    z.extractall(dest, names)
print(f"ansible: openstack.cloud ({len(names)} files) from {wheel.name} into {dest}")
PY
"$venv/bin/ansible-galaxy" collection list openstack.cloud -p "$venv/collections" 2>/dev/null | tail -1
