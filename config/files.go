package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	hcl "github.com/hashicorp/hcl/v2"
	"golang.org/x/crypto/ssh"

	"github.com/fjord-dev/fjord/imagefile"
	"github.com/fjord-dev/fjord/model"
)

// checkFiles reads what apply will read, so that validate and plan refuse
// what apply would trip over after pools and networks exist: each image's
// header (its format and virtual size, against every host's disk) and
// each host's private key (readable, unencrypted, private, and among the
// host's authorized keys).
func (l *loader) checkFiles(cfg *model.Config) Diagnostics {
	var diags Diagnostics
	errAt := func(kind, name, field, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary,
			Detail: fmt.Sprintf("%s %q: %s.", kind, name, detail), Subject: l.rangeOf(kind, name, field).Ptr()})
	}
	sizes := map[string]model.Size{}
	for i, im := range cfg.Images {
		if im.Path == "" {
			continue // downloaded: checked when it is; built: below
		}
		qcow2, virtual, err := imagefile.Header(im.Path)
		switch {
		case err != nil:
			errAt("image", im.Name, "path", "Cannot read image", fmt.Sprintf("%v; apply would stop after creating pools and networks", err))
		case qcow2 && im.Format == "raw":
			errAt("image", im.Name, "format", "Wrong image format", fmt.Sprintf("%s is a qcow2 image; set format = \"qcow2\"", im.Path))
		case !qcow2 && im.Format == "qcow2":
			errAt("image", im.Name, "format", "Wrong image format", fmt.Sprintf("%s is not a qcow2 image; set format = \"raw\" if it is a raw disk", im.Path))
		default:
			sizes[im.Name] = virtual
			cfg.Images[i].VirtualSize = virtual
		}
	}
	// A golden image is built on a disk the size of its base's.
	for i, im := range cfg.Images {
		if im.Build == nil {
			continue
		}
		if v, ok := sizes[im.Build.From]; ok {
			sizes[im.Name] = v
			cfg.Images[i].VirtualSize = v
		}
	}
	keys := map[string]ssh.PublicKey{} // private key file → its public key
	seen := map[string]bool{}
	for _, h := range cfg.Hosts {
		if seen[h.Base] {
			continue
		}
		seen[h.Base] = true
		if v, ok := sizes[h.Image]; ok && h.Disk < v {
			errAt("host", h.Base, "disk", "Disk smaller than its image",
				fmt.Sprintf("disk is %s, but image %q holds a %s disk: the guest would get a truncated file system; make disk at least %s", h.Disk, h.Image, v, v))
		}
		if h.SSH.PrivateKeyFile == "" {
			continue
		}
		pub, ok := keys[h.SSH.PrivateKeyFile]
		if !ok {
			var why string
			pub, why = readPrivateKey(h.SSH.PrivateKeyFile)
			if why != "" {
				errAt("host", h.Base, "ssh.private_key_file", "Unusable private key", why)
				continue
			}
			keys[h.SSH.PrivateKeyFile] = pub
		}
		if !authorizes(h.SSH.AuthorizedKeys, pub) {
			errAt("host", h.Base, "ssh.private_key_file", "Private key not authorized",
				fmt.Sprintf("the key in %s (%s) is not among authorized_keys, so fjord could not log in; add its public key", h.SSH.PrivateKeyFile, ssh.FingerprintSHA256(pub)))
		}
	}
	return diags
}

// readPrivateKey returns the public half of an unencrypted private key
// file, or why fjord cannot connect with it.
func readPrivateKey(path string) (ssh.PublicKey, string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err.Error()
	}
	signer, err := ssh.ParsePrivateKey(b)
	var pm *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &pm):
		return nil, fmt.Sprintf("%s is protected by a passphrase; fjord connects unattended and needs an unencrypted key", path)
	case err != nil:
		if _, _, _, _, perr := ssh.ParseAuthorizedKey(b); perr == nil {
			return nil, fmt.Sprintf("%s is a public key; name the private key (without .pub)", path)
		}
		return nil, fmt.Sprintf("%s is not an OpenSSH private key: %v", path, err)
	}
	return signer.PublicKey(), ""
}

func authorizes(authorized []string, pub ssh.PublicKey) bool {
	for _, a := range authorized {
		if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(a)); err == nil && bytes.Equal(k.Marshal(), pub.Marshal()) {
			return true
		}
	}
	return false
}
