//go:build !crashhook

package main

import "github.com/fjord-dev/fjord/provision"

// crashHook is nil outside builds with the crashhook tag.
func crashHook() func(provision.Event) { return nil }
