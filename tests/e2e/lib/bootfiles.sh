# bootfiles.sh - sourced by mkbase.sh and mkdebroot.sh: which of the host's Debian
# kernels the e2e guests boot. The running kernel when /boot has it, else the newest in
# /boot (the same choice as `provium image build`). The caller defines say().
kernel_version() {
    local k
    if [ -r "/boot/vmlinuz-$(uname -r)" ]; then
        uname -r
        return
    fi
    k=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
    [ -n "$k" ] || { say "no /boot/vmlinuz-* (install linux-image-amd64)"; exit 1; }
    echo "${k#/boot/vmlinuz-}"
}
