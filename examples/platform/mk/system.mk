# mk/system.mk - the make logic of the miniature nerves_system_br.
#
# Runs in the build directory (the Makefile written by create-build.sh calls
# it there with NERVES_PLATFORM_DIR and NERVES_DEFCONFIG in the environment).
# It fakes a Buildroot build in about a second: Buildroot-style headlines
# (">>> busybox 1.36.1 Extracting") between ordinary output lines, a little
# real work under target/, staging/ and images/, and an artifact tarball.
#
# Goals
#   all (default)  build; writes target/, staging/, images/rootfs.img and
#                  bumps the counter in build-count (1 after the first make)
#   system         needs NERVES_ARTIFACT_NAME=N and a finished `make`;
#                  writes N.tar.gz holding the single directory N/
#   clean          removes everything the build made (keeps Makefile,
#                  .config, dl and build-count)
#   help           lists goals and variables
#
# Variables (give them on the make command line)
#   GREETING=text  written to target/etc/greeting (default: hello)
#   FAIL=1         the build fails with an ERROR line and a non-zero exit
#                  after some output (during erlang's Building step)
#   OUTPUT_MB=N    adds N MiB of output lines, with a ">>>" headline every
#                  10,000 lines (benchmarks; default 0)
#   SLEEP=N        sleeps N seconds half-way through the build (default 0)
#   MEMHOG_MB=N    holds N MiB in a shell variable half-way through the
#                  build, as a big compiler would (memory limit tests;
#                  default 0)
#   ARTIFACT_MB=N  adds N MiB of random bytes to target/ (so to rootfs.img
#                  and the artifact, which gzip cannot shrink): big
#                  artifacts for transfer tests and benchmarks (default 0)
#   NERVES_ARTIFACT_NAME=N   name of the artifact for `make system`
#
# Every recipe is one bash script (.ONESHELL); all paths are relative to
# the build directory, and variable values reach the scripts through the
# environment, so spaces, quotes and dollar signs in them are harmless.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := all
.PHONY: all system clean help

GREETING ?= hello
FAIL ?= 0
OUTPUT_MB ?= 0
SLEEP ?= 0
MEMHOG_MB ?= 0
ARTIFACT_MB ?= 0
NERVES_ARTIFACT_NAME ?=
export GREETING FAIL OUTPUT_MB SLEEP MEMHOG_MB ARTIFACT_MB NERVES_ARTIFACT_NAME

NERVES_PLATFORM_VERSION := 1.28.1
export NERVES_PLATFORM_VERSION

# Shell helpers shared by the recipes ($$ is a single $ for the shell).
define NERVES_MINI_FUNCTIONS
# Mostly shell builtins: forks are what a tiny build spends its time on.
headline() { printf '>>> %s\n' "$$*"; }
err() { printf 'ERROR: %s\n' "$$*" >&2; exit 1; }
is_count() { [[ $$1 =~ ^[0-9]+$$ ]]; }
read_file() { IFS= read -r -d '' "$$1" <"$$2" || true; } # VAR FILE

# load_config: reads .config once; sets config_h (the BR2_ options as
# "#define NAME VALUE" lines), br2_count and br2_overlay.
load_config() {
    local line
    config_h="/* generated from .config */"$$'\n'
    br2_count=0
    br2_overlay=
    while IFS= read -r line || [[ -n $$line ]]; do
        [[ $$line == BR2_* ]] || continue
        config_h+="#define $${line%%=*} $${line#*=}"$$'\n'
        br2_count=$$((br2_count + 1))
        if [[ $$line == BR2_ROOTFS_OVERLAY=* ]]; then
            br2_overlay=$${line#*=}
            br2_overlay=$${br2_overlay#\"}
            br2_overlay=$${br2_overlay%\"}
        fi
    done <.config
}

# pkg_extract NAME VERSION: fake sources under build/NAME-VERSION/src
pkg_extract() {
    local dir="build/$$1-$$2" i
    headline "$$1 $$2 Extracting"
    if [[ -f $$dir/.stamp_extracted ]]; then
        printf 'Sources of %s-%s already extracted, reusing them\n' "$$1" "$$2"
        return 0
    fi
    printf 'gzip -d -c dl/%s-%s.tar.gz | tar --strip-components=1 -C %s -xf -\n' "$$1" "$$2" "$$dir"
    mkdir -p "$$dir/src"
    for i in 1 2 3 4; do
        printf '/* %s %s: source file %s */\nint %s_part%s(void) { return %s; }\n' \
            "$$1" "$$2" "$$i" "$${1//-/_}" "$$i" "$$i" >"$$dir/src/part$$i.c"
    done
    : >"$$dir/.stamp_extracted"
}

# pkg_configure NAME VERSION: patch once, then write config.h
pkg_configure() {
    local dir="build/$$1-$$2" src text
    headline "$$1 $$2 Patching"
    if [[ -f $$dir/.stamp_patched ]]; then
        printf 'Patches of %s-%s already applied\n' "$$1" "$$2"
    else
        printf 'Applying 0001-nerves-miniature.patch using patch:\n'
        for src in "$$dir"/src/*.c; do
            read_file text "$$src"
            printf '%s' "$${text//return /return 0 + }" >"$$src"
        done
        : >"$$dir/.stamp_patched"
    fi
    headline "$$1 $$2 Configuring"
    printf 'checking for a BSD-compatible install... /usr/bin/install -c\n'
    printf 'checking whether build environment is sane... yes\n'
    printf '%s' "$$config_h" >"$$dir/config.h"
    printf 'config.status: creating config.h (%s options)\n' "$$br2_count"
}

# pkg_build NAME VERSION: "compile" every source file, then "archive"
pkg_build() {
    local dir="build/$$1-$$2" src text lib=
    headline "$$1 $$2 Building"
    for src in "$$dir"/src/*.c; do
        printf '  CC      %s\n' "$${src%.c}.o"
        read_file text "$$src"
        printf '%s%s' "$$config_h" "$$text" >"$${src%.c}.o"
        lib+="$$config_h$$text"
    done
    printf '  AR      %s/lib%s.a\n' "$$dir" "$$1"
    printf '%s' "$$lib" >"$$dir/lib$$1.a"
}
endef
export NERVES_MINI_FUNCTIONS

all:
	@eval "$$NERVES_MINI_FUNCTIONS"
	[[ -f .config ]] || err "no .config in $$PWD: run create-build.sh DEFCONFIG BUILD_DIR first"
	is_count "$$OUTPUT_MB" || err "OUTPUT_MB must be a whole number of MiB, got '$$OUTPUT_MB'"
	is_count "$$SLEEP" || err "SLEEP must be a whole number of seconds, got '$$SLEEP'"
	is_count "$$MEMHOG_MB" || err "MEMHOG_MB must be a whole number of MiB, got '$$MEMHOG_MB'"
	is_count "$$ARTIFACT_MB" || err "ARTIFACT_MB must be a whole number of MiB, got '$$ARTIFACT_MB'"

	load_config
	count=0
	if [[ -f build-count ]]; then read -r count <build-count || true; fi
	is_count "$$count" || count=0
	count=$$((count + 1))
	printf '%s\n' "$$count" >build-count
	printf 'Miniature nerves_system_br %s: build #%s in %s\n' "$$NERVES_PLATFORM_VERSION" "$$count" "$$PWD"
	printf 'Defconfig: %s (%s BR2 options)\n' "$${NERVES_DEFCONFIG:-.config}" "$$br2_count"
	mkdir -p build target/etc target/bin target/usr/lib target/usr/share/doc/busybox staging/usr/include staging/usr/lib images

	# busybox
	pkg_extract busybox 1.36.1
	pkg_configure busybox 1.36.1
	pkg_build busybox 1.36.1
	headline "busybox 1.36.1 Installing to target"
	printf '#!/bin/sh\necho "busybox 1.36.1 (miniature)"\n' >target/bin/busybox
	chmod 0755 target/bin/busybox
	for applet in sh ls cat echo; do
	    [[ -L target/bin/$$applet ]] || ln -s busybox "target/bin/$$applet"
	    printf '  LN      /bin/%s -> busybox\n' "$$applet"
	done
	gzip -n -9 -c build/busybox-1.36.1/config.h build/busybox-1.36.1/src/*.c >target/usr/share/doc/busybox/sources.txt.gz
	printf '  GZIP    /usr/share/doc/busybox/sources.txt.gz\n'

	if (( SLEEP > 0 )); then
	    headline "pause 1.0 Sleeping $$SLEEP s (SLEEP=$$SLEEP)"
	    sleep "$$SLEEP"
	    printf 'Slept %s s, going on\n' "$$SLEEP"
	fi
	if (( MEMHOG_MB > 0 )); then
	    headline "memhog 1.0 Building (holds $$MEMHOG_MB MiB, MEMHOG_MB=$$MEMHOG_MB)"
	    hog=$$(head -c "$$((MEMHOG_MB * 1048576))" /dev/zero | tr '\0' x)
	    printf 'Held %s bytes, going on\n' "$${#hog}"
	    hog=
	fi

	# zlib: a host package in Buildroot terms; installs to staging too
	pkg_extract zlib 1.3.1
	pkg_configure zlib 1.3.1
	pkg_build zlib 1.3.1
	headline "zlib 1.3.1 Installing to staging directory"
	printf '/* zlib 1.3.1 (miniature) */\n#define ZLIB_VERSION "1.3.1"\n' >staging/usr/include/zlib.h
	cp build/zlib-1.3.1/libzlib.a staging/usr/lib/libz.a
	headline "zlib 1.3.1 Installing to target"
	cp build/zlib-1.3.1/libzlib.a target/usr/lib/libz.so.1.3.1
	[[ -L target/usr/lib/libz.so.1 ]] || ln -s libz.so.1.3.1 target/usr/lib/libz.so.1

	# erlang
	pkg_extract erlang 27.2
	pkg_configure erlang 27.2
	pkg_build erlang 27.2
	if [[ -n $$FAIL && $$FAIL != 0 ]]; then
	    printf '  ERLC    lib/kernel/ebin/application.beam\n'
	    printf 'lib/kernel/src/application.erl:1: syntax error before: FAIL\n'
	    err "erlang 27.2: build failed on purpose (FAIL=$$FAIL was given to make)"
	fi
	if (( OUTPUT_MB > 0 )); then
	    printf 'Writing %s MiB of compiler output (OUTPUT_MB=%s)\n' "$$OUTPUT_MB" "$$OUTPUT_MB"
	    awk -v mb="$$OUTPUT_MB" 'BEGIN {
	        limit = mb * 1048576; bytes = 0; n = 0
	        pad = "-O2 -pipe -fno-strict-aliasing -D_FILE_OFFSET_BITS=64 -DNERVES_MINIATURE"
	        while (bytes < limit) {
	            if (n % 10000 == 0) {
	                line = sprintf(">>> erlang 27.2 Building (output lines %d-%d)", n + 1, n + 10000)
	                print line; bytes += length(line) + 1
	            }
	            n++
	            line = sprintf("  CC      erts/emulator/beam/obj%07d.o %s", n, pad)
	            print line; bytes += length(line) + 1
	        }
	    }'
	fi
	headline "erlang 27.2 Installing to target"
	mkdir -p target/usr/lib/erlang/bin target/usr/lib/erlang/releases/27
	cp build/erlang-27.2/liberlang.a target/usr/lib/erlang/bin/beam.smp
	printf '27\n' >target/usr/lib/erlang/releases/27/OTP_VERSION

	# nerves-config: the greeting and the release files
	pkg_extract nerves-config 0.1.0
	pkg_configure nerves-config 0.1.0
	headline "nerves-config 0.1.0 Building"
	printf '  GEN     etc/greeting\n'
	headline "nerves-config 0.1.0 Installing to target"
	printf '%s\n' "$$GREETING" >target/etc/greeting
	printf 'NAME="Nerves miniature"\nVERSION_ID=%s\nBUILD=%s\n' "$$NERVES_PLATFORM_VERSION" "$$count" >target/etc/os-release

	# The rootfs overlay named in the defconfig, as Buildroot would.
	overlay=$$br2_overlay
	if [[ -n $$overlay ]]; then
	    defconfig_dir=.
	    if [[ -n $${NERVES_DEFCONFIG:-} ]]; then defconfig_dir=$${NERVES_DEFCONFIG%/*}; fi
	    overlay=$${overlay//'$${NERVES_DEFCONFIG_DIR}'/$$defconfig_dir}
	    headline "  Copying overlay $$overlay"
	    if [[ -d $$overlay ]]; then
	        cp -R -- "$$overlay/." target/
	    else
	        printf 'WARNING: overlay %s not found, skipping it\n' "$$overlay"
	    fi
	fi

	if (( ARTIFACT_MB > 0 )); then
	    headline "bulk 1.0 Installing to target ($$ARTIFACT_MB MiB of random bytes, ARTIFACT_MB=$$ARTIFACT_MB)"
	    head -c "$$((ARTIFACT_MB * 1048576))" /dev/urandom >target/usr/share/bulk.bin
	else
	    rm -f target/usr/share/bulk.bin
	fi

	headline "  Finalizing target directory"
	printf 'Removing the stamp files of target/\n'
	headline "  Generating filesystem image rootfs.img"
	tar -C target --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner -cf images/rootfs.img.tmp .
	mv -f images/rootfs.img.tmp images/rootfs.img
	printf 'Wrote images/rootfs.img\n'
	printf 'Build #%s finished.\n' "$$count"

system:
	@eval "$$NERVES_MINI_FUNCTIONS"
	name=$$NERVES_ARTIFACT_NAME
	[[ -n $$name ]] || err "NERVES_ARTIFACT_NAME is not set: run 'make system NERVES_ARTIFACT_NAME=<name>'"
	case $$name in
	    */* | . | .. | .* ) err "NERVES_ARTIFACT_NAME must be a plain file name, got '$$name'" ;;
	esac
	[[ -f images/rootfs.img && -f target/etc/greeting && -f .config ]] ||
	    err "nothing has been built in $$PWD yet: run 'make' before 'make system'"

	printf 'Creating %s.tar.gz\n' "$$name"
	stage=.system-stage
	rm -rf -- "$$stage"
	dir=$$stage/$$name
	mkdir -p -- "$$dir/images" "$$dir/staging" "$$dir/scripts"
	printf '%s\n' "$$name" >"$$dir/nerves-system.tag"
	cat >"$$dir/nerves-env.sh" <<-'EOF'
	# nerves-env.sh of the miniature nerves_system_br (no toolchain here).
	# Source it with NERVES_SYSTEM set to the directory holding this file.
	export NERVES_SYSTEM_MINIATURE=1
	export NERVES_ROOTFS="$${NERVES_SYSTEM:-.}/images/rootfs.img"
	EOF
	cat >"$$dir/nerves.mk" <<-'EOF'
	# nerves.mk of the miniature nerves_system_br
	NERVES_SYSTEM_MINIATURE = 1
	NERVES_ROOTFS = $$(NERVES_SYSTEM)/images/rootfs.img
	EOF
	cp images/rootfs.img "$$dir/images/"
	cp -R staging/. "$$dir/staging/"
	printf '#!/bin/sh\n# Prints the greeting baked into this system.\ncat "$$(dirname "$$0")/../target-greeting"\n' >"$$dir/scripts/greeting.sh"
	chmod 0755 "$$dir/scripts/greeting.sh"
	cp .config "$$dir/.config"
	cp target/etc/greeting "$$dir/target-greeting"

	tar -C "$$stage" --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner -cf - -- "$$name" |
	    gzip -n -6 >"$$name.tar.gz.tmp"
	mv -f -- "$$name.tar.gz.tmp" "$$name.tar.gz"
	rm -rf -- "$$stage"
	printf 'Created %s/%s.tar.gz (%s bytes)\n' "$$PWD" "$$name" "$$(wc -c <"$$name.tar.gz")"

clean:
	@printf 'Removing build/ target/ staging/ images/ and artifacts\n'
	rm -rf build target staging images .system-stage
	rm -f ./*.tar.gz

help:
	@printf '%s\n' \
	  'Miniature nerves_system_br: make [all|system|clean|help] [VAR=value ...]' \
	  '  all      build (GREETING=text, FAIL=1, OUTPUT_MB=N, SLEEP=N, MEMHOG_MB=N, ARTIFACT_MB=N)' \
	  '  system   write NERVES_ARTIFACT_NAME.tar.gz (after make)' \
	  '  clean    remove the build outputs'
