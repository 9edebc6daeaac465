# The e2e fleet: two hosts placed over this machine's libvirtd and a
# second hypervisor reachable only over SSH (e2e/scripts/hv2.sh), each
# guest on an isolated network of the hypervisor it runs on.
fjord {
  project = "fleet"
}

variable "image_path" {}
variable "image_sha256" {}
variable "ssh_public_key" {}
variable "ssh_private_key_file" {}
variable "hv2_host_key" {}

variable "memory" {
  default = "2GiB"
}

variable "require_nvme" {
  default = false
}

variable "sshd_options" {
  default = {}
}

hypervisor "local" {
  uri       = "qemu:///system"
  virt_type = "qemu"
}

hypervisor "hv2" {
  uri          = "qemu+ssh://root@10.77.0.2/system"
  virt_type    = "qemu"
  host_key     = var.hv2_host_key
  ssh_key_file = var.ssh_private_key_file
}

# No hypervisor attribute: made on each hypervisor a host using it is placed on.
pool "fleet" {
  path         = "/var/lib/fjord/pools/fleet"
  require_nvme = var.require_nvme
}

network "fleet" {
  cidr = "192.168.152.0/24"
}

image "bookworm" {
  path   = var.image_path
  sha256 = var.image_sha256
}

host "ci" {
  count       = 2
  hypervisors = ["local", "hv2"]
  image       = "bookworm"
  pool        = "fleet"
  network     = "fleet"
  vcpu        = 2
  memory      = var.memory
  disk        = "6GiB"

  docker {
    waive = {
      "guest.kvm" = "e2e guests run under software emulation: this machine's KVM cannot boot stock kernels"
      "host.kvm"  = "e2e guests run under software emulation: this machine's KVM cannot boot stock kernels"
    }
  }

  ssh {
    user             = "admin"
    authorized_keys  = [var.ssh_public_key]
    private_key_file = var.ssh_private_key_file
    sshd_options     = var.sshd_options
  }
}
