package sshx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// server is an in-process SSH server on 127.0.0.1 that answers every exec
// request with "ran: CMD" and exit status 3 for the command "fail".
type server struct {
	addr    string
	hostKey KeyPair
}

func startServer(t *testing.T, clientPub ssh.PublicKey) *server {
	t.Helper()
	hk, err := NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey([]byte(hk.PrivatePEM))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if string(k.Marshal()) == string(clientPub.Marshal()) {
				return nil, nil
			}
			return nil, fmt.Errorf("unknown key")
		},
	}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c, cfg)
		}
	}()
	return &server{addr: ln.Addr().String(), hostKey: hk}
}

func serve(c net.Conn, cfg *ssh.ServerConfig) {
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if forwardChannel(nc) {
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer ch.Close()
			for r := range creqs {
				if r.Type != "exec" {
					r.Reply(false, nil)
					continue
				}
				var p struct{ Cmd string }
				ssh.Unmarshal(r.Payload, &p)
				r.Reply(true, nil)
				if p.Cmd == "sleep" {
					time.Sleep(5 * time.Second)
				}
				fmt.Fprintf(ch, "ran: %s", p.Cmd)
				status := uint32(0)
				if p.Cmd == "fail" {
					status = 3
				}
				ch.SendRequest("exit-status", false, ssh.Marshal(struct{ S uint32 }{status}))
				return
			}
		}()
	}
}

func clientKey(t *testing.T) (KeyPair, ssh.PublicKey) {
	kp, err := NewHostKey() // any ed25519 pair will do as a client key
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(kp.Public))
	if err != nil {
		t.Fatal(err)
	}
	return kp, pub
}

func TestPinnedKeyAccepted(t *testing.T) {
	ck, cpub := clientKey(t)
	srv := startServer(t, cpub)
	ctx := context.Background()
	c, err := Dial(ctx, Target{Addr: srv.addr, User: "admin", PrivateKey: []byte(ck.PrivatePEM), PinnedKey: srv.hostKey.Public})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Run(ctx, "docker info")
	if err != nil || r.Stdout != "ran: docker info" || r.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v", r, err)
	}
	r, err = c.Run(ctx, "fail")
	if err != nil || r.ExitCode != 3 {
		t.Fatalf("Run(fail) = %+v, %v; want exit 3", r, err)
	}
}

func TestOtherHostKeyRefusedNamingBothFingerprints(t *testing.T) {
	ck, cpub := clientKey(t)
	srv := startServer(t, cpub)
	other, _ := NewHostKey()
	_, err := Dial(context.Background(), Target{Addr: srv.addr, User: "admin", PrivateKey: []byte(ck.PrivatePEM), PinnedKey: other.Public})
	if !errors.Is(err, ErrHostKeyMismatch) {
		t.Fatalf("err = %v, want a host key mismatch", err)
	}
	msg := err.Error()
	for _, fp := range []string{Fingerprint(other.Public), Fingerprint(srv.hostKey.Public)} {
		if !strings.Contains(msg, fp) {
			t.Errorf("error %q does not name fingerprint %s", msg, fp)
		}
	}
}

func TestRunHonoursContext(t *testing.T) {
	ck, cpub := clientKey(t)
	srv := startServer(t, cpub)
	c, err := Dial(context.Background(), Target{Addr: srv.addr, User: "admin", PrivateKey: []byte(ck.PrivatePEM), PinnedKey: srv.hostKey.Public})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = c.Run(ctx, "sleep")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestParseHostKeyDerivesThePublicHalf(t *testing.T) {
	kp, _ := NewHostKey()
	got, err := ParseHostKey([]byte(kp.PrivatePEM))
	if err != nil || got.Public != kp.Public {
		t.Fatalf("ParseHostKey = %+v, %v; want public %s", got, err, kp.Public)
	}
	if _, err := ParseHostKey([]byte("not a key")); err == nil {
		t.Error("garbage parsed as a key")
	}
}

// forwardChannel serves the channels OpenSSH's server opens for -L and
// ProxyJump (direct-tcpip, direct-streamlocal) by dialing on this side.
func forwardChannel(nc ssh.NewChannel) bool {
	var network, addr string
	switch nc.ChannelType() {
	case "direct-tcpip":
		var p struct {
			Host       string
			Port       uint32
			OriginHost string
			OriginPort uint32
		}
		if ssh.Unmarshal(nc.ExtraData(), &p) != nil {
			nc.Reject(ssh.ConnectionFailed, "bad request")
			return true
		}
		network, addr = "tcp", net.JoinHostPort(p.Host, fmt.Sprint(p.Port))
	case "direct-streamlocal@openssh.com":
		var p struct {
			Path      string
			Reserved0 string
			Reserved1 uint32
		}
		if ssh.Unmarshal(nc.ExtraData(), &p) != nil {
			nc.Reject(ssh.ConnectionFailed, "bad request")
			return true
		}
		network, addr = "unix", p.Path
	default:
		return false
	}
	c, err := net.Dial(network, addr)
	if err != nil {
		nc.Reject(ssh.ConnectionFailed, err.Error())
		return true
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		c.Close()
		return true
	}
	go ssh.DiscardRequests(reqs)
	go func() { io.Copy(ch, c); ch.CloseWrite() }()
	go func() { io.Copy(c, ch); c.Close() }()
	return true
}
