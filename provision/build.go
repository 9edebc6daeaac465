package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fjord-dev/fjord/cloudinit"
	"github.com/fjord-dev/fjord/hardening"
	"github.com/fjord-dev/fjord/imagefile"
	"github.com/fjord-dev/fjord/model"
)

// Golden images: an image with a build block is made by fjord from its
// base (build.from), once per pool that needs it, and named by its recipe's
// hash, so an unchanged recipe is never built twice and a changed one is a
// new image. The image volume is a qcow2 overlay on the base image's
// volume; the manifest volume beside it, written last, is what says the
// build finished.

// RecipeHash is the hash of what makes image im (which has a build
// block): the base image's checksum and format, the mirror, the packages,
// fjord's build script and the builder's seed. fjord's version is not in
// it: what a version changes in an image is its build script or the
// builder's seed, so a fjord release that builds images as the last one
// did neither rebuilds them nor replaces the hosts on them (the manifest
// records the version that built an image).
func RecipeHash(cfg *model.Config, im model.Image) string {
	base, _ := cfg.Image(im.Build.From)
	mirror, unsigned := buildMirror(cfg, im)
	pk := slices.Clone(im.Build.Packages)
	slices.Sort(pk)
	h := sha256.New()
	fmt.Fprintf(h, "base %s %s\nmirror %s %v\npackages %s\n", base.SHA256, base.Format, mirror, unsigned, strings.Join(pk, " "))
	h.Write(hardening.Must("build.sh"))
	// The builder's seed as fjord renders it (its modules, its files), the
	// recipe's own hash left out.
	if seed, err := cloudinit.RenderBuild(cloudinit.BuildInput{Image: im.Name, AptMirror: mirror, AptUnsigned: unsigned, Packages: pk}); err == nil {
		h.Write(seed.UserData)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// buildMirror is the mirror a build installs from: the built image's own
// apt_mirror, else its base's.
func buildMirror(cfg *model.Config, im model.Image) (string, bool) {
	if im.AptMirror != "" {
		return im.AptMirror, im.AptUnsigned
	}
	base, _ := cfg.Image(im.Build.From)
	return base.AptMirror, base.AptUnsigned
}

// resolveImages sets each built image's SHA256 to its recipe's hash.
func resolveImages(cfg *model.Config) {
	for i, im := range cfg.Images {
		if im.Build != nil {
			cfg.Images[i].SHA256 = RecipeHash(cfg, im)
		}
	}
}

// ManifestVolume is the manifest of a built image's volume.
func ManifestVolume(project, image, sha, format string) string {
	return ImageVolume(project, image, sha, format) + ".manifest"
}

// builderDomain is the libvirt name of the guest that builds image: a
// host name cannot hold a dot, so it is never a host's.
func builderDomain(project, image string) string { return DomainName(project, "image."+image) }

// Manifest is what a built image holds, as its builder reported it.
type Manifest struct {
	Image      string            `json:"image"`
	Recipe     string            `json:"recipe"`
	From       string            `json:"from"`
	BaseSHA256 string            `json:"base_sha256"`
	AptMirror  string            `json:"apt_mirror,omitempty"`
	Requested  []string          `json:"requested_packages,omitempty"`
	Fjord      string            `json:"fjord"`
	Built      time.Time         `json:"built"`
	Seconds    float64           `json:"build_seconds"`
	Kernel     string            `json:"kernel"`
	Docker     string            `json:"docker"`
	CloudInit  string            `json:"cloud_init"`
	Packages   map[string]string `json:"packages"`
}

// VolumeReader is implemented by hypervisors that can read a small volume
// back (a built image's manifest).
type VolumeReader interface {
	ReadVolume(ctx context.Context, pool, volume string, max uint64) ([]byte, error)
}

// ReadManifest reads the manifest of built image im in pool.
func ReadManifest(ctx context.Context, hv Hypervisor, project, pool string, im model.Image) (Manifest, error) {
	r, ok := hv.(VolumeReader)
	if !ok {
		return Manifest{}, errors.New("this hypervisor cannot read volumes back")
	}
	b, err := r.ReadVolume(ctx, pool, ManifestVolume(project, im.Name, im.SHA256, im.Format), 4<<20)
	if err != nil {
		return Manifest{}, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("manifest of image %q: %w", im.Name, err)
	}
	return m, nil
}

// buildImage makes built image im in pool on hypervisor hvName: the base
// imported (if it is not), a builder guest booted from an overlay on it
// with the build seed, waited for until it powers itself off, its console
// read for the result; then the manifest written. On failure everything
// the build made is removed and the console's last lines say why.
func (a *applier) buildImage(ctx context.Context, hvName, pool string, im model.Image, report func(Progress)) (string, error) {
	cfg := a.d.Config
	hv := a.hvs[hvName]
	base, _ := cfg.Image(im.Build.From)
	basePath, err := importImage(ctx, hv, cfg.Project, pool, base, a.opts.ImageCache, report)
	if err != nil {
		return "", fmt.Errorf("base image %q: %w", base.Name, err)
	}
	// The builder's disk is its base's, so that the image fits every host
	// disk the base does (validate refuses a smaller one); a base whose
	// size is not known before apply (downloaded) is built on the
	// smallest disk of the hosts on the image.
	disk := base.VirtualSize
	if disk == 0 && base.URL != "" {
		// Downloaded just now, or before: the cached file says.
		if _, v, err := imagefile.Header(cachedDownload(a.opts.ImageCache, base)); err == nil {
			disk = v
		}
	}
	var smallest model.Size
	var network string
	for _, h := range a.d.Hosts {
		if h.Spec.Image == im.Name && h.Spec.Pool == pool && h.Spec.Hypervisor == hvName {
			if smallest == 0 || h.Spec.Disk < smallest {
				smallest = h.Spec.Disk
			}
			if network == "" {
				network = h.Spec.ManagementNetwork()
			}
		}
	}
	if disk == 0 {
		disk = smallest
	}
	if im.Build.Network != "" {
		network = im.Build.Network
	}
	if disk == 0 {
		disk = 10 * model.GiB
	}
	n, _ := cfg.Network(network)
	if !n.Managed() {
		return "", fmt.Errorf("the builder needs a network libvirt gives addresses on (isolated, route or nat); %q is a bridge: set build.network", network)
	}
	dom := builderDomain(cfg.Project, im.Name)
	vol := ImageVolume(cfg.Project, im.Name, im.SHA256, im.Format)
	seedVol := VolumePrefix(cfg.Project) + "image-" + im.Name + "-build-seed.iso"
	cleanup := func() error {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return errors.Join(hv.RemoveDomain(cctx, dom, RemoveOptions{}),
			hv.DeleteVolume(cctx, pool, seedVol), hv.DeleteVolume(cctx, pool, vol),
			hv.DeleteVolume(cctx, pool, ManifestVolume(cfg.Project, im.Name, im.SHA256, im.Format)))
	}
	// What an interrupted build left is not trusted.
	if err := cleanup(); err != nil {
		return "", err
	}
	start := time.Now()
	path, err := hv.CreateVolume(ctx, VolumeSpec{Pool: pool, Name: vol, Format: "qcow2", Capacity: uint64(disk), Backing: &Backing{Path: basePath, Format: base.Format}})
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		if cerr := cleanup(); cerr != nil {
			err = fmt.Errorf("%w (removing what the build made failed too: %w)", err, cerr)
		}
		return "", err
	}
	sum := sha256.Sum256([]byte(cfg.Project + "\x00image\x00" + im.Name))
	mac := fmt.Sprintf("52:54:00:%02x:%02x:%02x", sum[0], sum[1], sum[2])
	mirror, unsigned := buildMirror(cfg, im)
	seed, err := cloudinit.RenderBuild(cloudinit.BuildInput{Image: im.Name, Recipe: im.SHA256, MAC: mac, AptMirror: mirror, AptUnsigned: unsigned, Packages: im.Build.Packages})
	if err != nil {
		return fail(err)
	}
	iso, err := seed.ISO()
	if err != nil {
		return fail(err)
	}
	seedPath, err := hv.CreateVolume(ctx, VolumeSpec{Pool: pool, Name: seedVol, Format: "raw", Capacity: uint64(len(iso)), Content: iso})
	if err != nil {
		return fail(err)
	}
	hvSpec, _ := cfg.Hypervisor(hvName)
	err = hv.DefineAndStart(ctx, DomainSpec{
		Name: dom, VirtType: hvSpec.VirtType, VCPU: 2, MemoryKiB: uint64(2 * model.GiB / model.KiB),
		DiskPath: path, SeedPath: seedPath, NICs: []DomainNIC{{Network: n.Name, MAC: mac, MTU: n.MTU}},
		Meta: HostMeta{Project: cfg.Project, Host: "image." + im.Name, Version: a.opts.Version, Image: base.Name, ImageSHA: base.SHA256, Pool: pool, Network: n.Name, MAC: mac},
	})
	if err != nil {
		return fail(err)
	}
	timeout := 3 * a.opts.BootTimeout
	deadline := time.Now().Add(timeout)
	stage := ""
	for i := 0; ; i++ {
		if i%3 == 2 && report != nil {
			// What the build script last said it was doing.
			if s := lastStage(hv.ConsoleTail(ctx, dom, 60)); s != "" && s != stage {
				stage = s
				report(Progress{Step: "build", Stage: s})
			}
		}
		st, err := hv.DomainStatus(ctx, dom)
		if err != nil {
			return fail(err)
		}
		if st.State == "shutoff" {
			break
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("the builder guest did not finish in %s; its console ends:\n%s", timeout, lastLines(hv.ConsoleTail(ctx, dom, 15), 15)))
		}
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
	console := hv.ConsoleTail(ctx, dom, 20000)
	rep := cloudinit.ParseBuildConsole(console, im.SHA256)
	if !rep.Done {
		why := "it powered off without saying it had finished"
		if rep.Failed != "" {
			why = "its build script failed at step " + rep.Failed
		}
		return fail(fmt.Errorf("building image %q: %s; its console ends:\n%s", im.Name, why, lastLines(console, 25)))
	}
	m := Manifest{Image: im.Name, Recipe: im.SHA256, From: base.Name, BaseSHA256: base.SHA256, AptMirror: mirror, Requested: im.Build.Packages,
		Fjord: a.opts.Version, Built: time.Now().UTC().Truncate(time.Second), Seconds: time.Since(start).Seconds(),
		Kernel: rep.Kernel, Docker: rep.Docker, CloudInit: rep.CloudInit, Packages: rep.Packages}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fail(err)
	}
	if err := errors.Join(hv.RemoveDomain(ctx, dom, RemoveOptions{}), hv.DeleteVolume(ctx, pool, seedVol)); err != nil {
		return fail(err)
	}
	if _, err := hv.CreateVolume(ctx, VolumeSpec{Pool: pool, Name: ManifestVolume(cfg.Project, im.Name, im.SHA256, im.Format), Format: "raw", Capacity: uint64(len(js)), Content: js}); err != nil {
		return fail(err)
	}
	return path, nil
}

// lastStage is the last "fjord-build: …" line of a builder's console.
func lastStage(console string) string {
	ls := strings.Split(console, "\n")
	for i := len(ls) - 1; i >= 0; i-- {
		if _, s, ok := strings.Cut(strings.TrimRight(ls[i], "\r"), "fjord-build: "); ok {
			return strings.TrimSpace(s)
		}
	}
	return ""
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}
