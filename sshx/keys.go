// Package sshx generates pinned host keys and runs commands on hosts over SSH,
// accepting only the host key fjord pinned. There is no trust-on-first-use.
package sshx

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// KeyPair is an ed25519 key in OpenSSH text form.
type KeyPair struct {
	PrivatePEM string
	Public     string // authorized_keys form, no comment
}

// NewHostKey generates a fresh ed25519 host key.
func NewHostKey() (KeyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return KeyPair{}, fmt.Errorf("generate host key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return KeyPair{}, fmt.Errorf("encode host key: %w", err)
	}
	spub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return KeyPair{}, fmt.Errorf("encode host key: %w", err)
	}
	return KeyPair{
		PrivatePEM: string(pem.EncodeToMemory(block)),
		Public:     strings.TrimSpace(string(ssh.MarshalAuthorizedKey(spub))),
	}, nil
}

// Fingerprint returns the SHA256 fingerprint of an authorized_keys line, or
// the line itself when it does not parse.
func Fingerprint(authorizedKey string) string {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorizedKey))
	if err != nil {
		return authorizedKey
	}
	return ssh.FingerprintSHA256(k)
}

// ParseHostKey reads an OpenSSH private host key and derives its public half.
func ParseHostKey(privatePEM []byte) (KeyPair, error) {
	signer, err := ssh.ParsePrivateKey(privatePEM)
	if err != nil {
		return KeyPair{}, fmt.Errorf("parse host key: %w", err)
	}
	return KeyPair{
		PrivatePEM: string(privatePEM),
		Public:     strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))),
	}, nil
}
