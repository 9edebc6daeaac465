package provision

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/fjord-dev/fjord/cloudinit"
	"github.com/fjord-dev/fjord/sshx"
)

// The in-place changes that are disks, not files: named in Change.InPlace
// before the files, grown while the host runs.
const (
	PartDisk     = "disk"      // the root disk, its last partition and ext4 filesystem
	PartDataDisk = "data-disk" // the disk /var/lib/docker is on, an ext4 filesystem on the whole disk
)

// Exit codes of growScript.
const (
	growNotSeen   = 14 // the guest's kernel does not see the new size
	growPartition = 15 // growpart failed
	growFS        = 16 // resize2fs failed
)

// growScript grows, inside the guest, the filesystem on the disk that
// now has size bytes: for the root disk the partition / is on first
// (growpart), for the data disk the filesystem on the whole device. It
// prints the filesystem's new size in bytes.
func growScript(part string, size uint64) string {
	var b strings.Builder
	b.WriteString("set -u\n")
	if part == PartDisk {
		b.WriteString(`dev=$(readlink -f "$(findmnt -no SOURCE /)") || exit 10
name=${dev#/dev/}
disk=/dev/$(lsblk -no PKNAME "$dev" | head -1)
num=$(cat "/sys/class/block/$name/partition") || exit 10
mnt=/
`)
	} else {
		fmt.Fprintf(&b, "dev=$(readlink -f /dev/disk/by-id/virtio-%s) || exit 10\ndisk=$dev\nmnt=/var/lib/docker\n", cloudinit.DataDiskSerial)
	}
	fmt.Fprintf(&b, `i=0
while [ "$(blockdev --getsize64 "$disk")" -lt %d ]; do
  i=$((i+1)); if [ $i -gt 60 ]; then echo "the guest sees $(blockdev --getsize64 "$disk") bytes on $disk" >&2; exit %d; fi
  sleep 0.5
done
`, size, growNotSeen)
	if part == PartDisk {
		fmt.Fprintf(&b, `if ! out=$(growpart "$disk" "$num" 2>&1); then
  case "$out" in NOCHANGE*) ;; *) printf '%%s\n' "$out" >&2; exit %d;; esac
fi
`, growPartition)
	}
	fmt.Fprintf(&b, `if ! out=$(resize2fs "$dev" 2>&1); then printf '%%s\n' "$out" >&2; exit %d; fi
df -B1 --output=size "$mnt" | tail -1
`, growFS)
	return "sudo -n sh -c " + sshx.Quote(b.String())
}

// growDisk grows one of the host's disks to its configured size: the
// volume through libvirt (a live block resize), then the partition and
// filesystem in the guest over g. It returns the filesystem's new size.
func (a *applier) growDisk(ctx context.Context, hv Hypervisor, g Guest, h DesiredHost, part string) (uint64, error) {
	project := a.d.Config.Project
	volume, size := OverlayVolume(project, h.Spec.Name), h.Meta.Disk
	if part == PartDataDisk {
		volume, size = DataVolume(project, h.Spec.Name), h.Meta.DataDisk
	}
	if err := hv.GrowVolume(ctx, DomainName(project, h.Spec.Name), h.Spec.Pool, volume, size); err != nil {
		return 0, err
	}
	r, err := g.Run(ctx, growScript(part, size))
	if err != nil {
		return 0, err
	}
	why := strings.TrimSpace(sshx.Short(r.Stderr + r.Stdout))
	switch r.ExitCode {
	case 0:
	case growNotSeen:
		return 0, fmt.Errorf("the volume is %d bytes but the guest does not see it (%s)", size, why)
	case growPartition:
		return 0, fmt.Errorf("the disk grew to %d bytes but growpart could not grow the root partition: %s", size, why)
	case growFS:
		return 0, fmt.Errorf("the disk grew to %d bytes but resize2fs could not grow its filesystem: %s", size, why)
	default:
		return 0, fmt.Errorf("growing the filesystem failed (exit %d): %s", r.ExitCode, why)
	}
	fs, err := strconv.ParseUint(strings.TrimSpace(r.Stdout), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the filesystem grew, but df printed %q", strings.TrimSpace(r.Stdout))
	}
	return fs, nil
}
