#!/bin/sh
# Entrypoint of the old-style example build image (nerves_system_br < 1.28.0).
#
# UID and GID come from the environment (the runner passes the host user's
# ids). POSIX sh on purpose: in bash, UID is a read-only variable holding the
# shell's own uid, so the value passed with `-e UID=...` could not be read.
#
#   UID unset or 0  -> run the command as root (the runner's chown step)
#   UID=N [GID=M]   -> make sure /etc/passwd and /etc/group know N and M
#                      (appending entries, no useradd in this image), then
#                      drop to N:M with setpriv, which stands in for gosu.
set -eu

uid=${UID:-0}
gid=${GID:-}

if [ "$#" -eq 0 ]; then
    set -- /bin/bash
fi

case "$uid" in
    '' | *[!0-9]*) echo "entrypoint.sh: UID must be a number, got '$uid'" >&2; exit 1 ;;
esac
[ -n "$gid" ] || gid=$uid
case "$gid" in
    *[!0-9]*) echo "entrypoint.sh: GID must be a number, got '$gid'" >&2; exit 1 ;;
esac

# Started as a non-root user (docker run --user): nothing we may change.
if [ "$(id -u)" -ne 0 ] || [ "$uid" -eq 0 ]; then
    exec "$@"
fi

name_taken() { # FILE NAME
    grep -q "^$2:" "$1"
}

if ! awk -F: -v g="$gid" '$3 == g { found = 1 } END { exit !found }' /etc/group; then
    group=user
    if name_taken /etc/group "$group"; then group=user$gid; fi
    printf '%s:x:%s:\n' "$group" "$gid" >>/etc/group
fi

if ! awk -F: -v u="$uid" '$3 == u { found = 1 } END { exit !found }' /etc/passwd; then
    user=user
    if name_taken /etc/passwd "$user"; then user=user$uid; fi
    printf '%s:x:%s:%s:%s:/home/%s:/bin/bash\n' "$user" "$uid" "$gid" "$user" "$user" >>/etc/passwd
fi

user=$(awk -F: -v u="$uid" '$3 == u { print $1; exit }' /etc/passwd)
home=$(awk -F: -v u="$uid" '$3 == u { print $6; exit }' /etc/passwd)
if [ -n "$home" ] && [ ! -d "$home" ]; then
    mkdir -p "$home"
    chown "$uid:$gid" "$home"
fi

export USER="$user" LOGNAME="$user" HOME="${home:-/tmp}"
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"
