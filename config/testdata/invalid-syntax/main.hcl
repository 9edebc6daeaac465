pool "default" {
  path = "/var/lib/fjord/pool"
}

host "web" {
  image = "bookworm"
  memory = "2GiB" "extra" # ERROR: Missing newline after argument
}
