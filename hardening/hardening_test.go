package hardening

import "testing"

func TestDaemonDefaultsHardened(t *testing.T) {
	d := DaemonDefaults()
	want := map[string]any{
		"icc": false, "log-level": "info", "iptables": true, "userns-remap": "default",
		"no-new-privileges": true, "live-restore": true, "userland-proxy": false,
		"experimental": false, "log-driver": "journald",
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("daemon.json %s = %v, want %v", k, d[k], v)
		}
	}
	for _, k := range []string{"hosts", "cgroup-parent", "seccomp-profile"} {
		if _, ok := d[k]; ok {
			t.Errorf("daemon.json sets %s; the hardened default leaves it unset", k)
		}
	}
	d["icc"] = true
	if DaemonDefaults()["icc"] != false {
		t.Error("DaemonDefaults returned shared state")
	}
}

func TestEveryFileIsEmbedded(t *testing.T) {
	for _, name := range []string{"daemon.json", "setup.sh", "sysctl.conf", "sshd.conf", "audit.rules", "docker-wrapper.sh", "fjord-host.sh"} {
		if len(Must(name)) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
}
