# Run inside the fresh debootstrap tree (chroot): drop what a container never uses, so the base
# stays small. apt and dpkg stay: the broker image installs mosquitto with them.
set -e
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/log/* \
       /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/lintian /usr/share/locale/* \
       /usr/lib/python3.11/test /usr/lib/python3.11/idlelib /usr/lib/python3.11/tkinter \
       /usr/lib/python3.11/lib2to3 /usr/lib/python3.11/ensurepip /usr/lib/python3.11/pydoc_data
find /usr/lib/python3* -name '__pycache__' -type d -prune -exec rm -rf {} +
# bytecode compiled once here: the images run on a read-only root filesystem
python3 -m compileall -q -j 0 /usr/lib/python3.11 >/dev/null 2>&1 || true
# one unprivileged user for every image (uid/gid 10001); the data dir is a volume owned by it
groupadd --system --gid 10001 nic
useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin nic
mkdir -p /data && chown 10001:10001 /data
