package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"

	"github.com/fjord-dev/fjord/provision"
	"github.com/fjord-dev/fjord/verify"
)

// counts tallies one host's outcomes.
func counts(h provision.HostResult) (pass, fail, waived int) {
	for _, c := range h.Checks {
		switch c.Status {
		case verify.Pass:
			pass++
		case verify.Fail:
			fail++
		case verify.Waived:
			waived++
		}
	}
	return
}

// writeHuman prints, per host, only what needs a reader's attention: the
// failed checks with their fix, and the waivers. Then a summary line.
func writeHuman(w io.Writer, reports []provision.HostResult) {
	failedHosts := 0
	for _, h := range reports {
		pass, fail, waived := counts(h)
		switch {
		case h.Error != "":
			failedHosts++
			fmt.Fprintf(w, "host %s: NOT VERIFIED: %s\n", h.Host, h.Error)
			if fail == 0 {
				continue
			}
		case fail > 0:
			failedHosts++
			fmt.Fprintf(w, "host %s (%s): %d of %d checks FAILED, %d waived\n", h.Host, h.Address, fail, len(h.Checks), waived)
		default:
			fmt.Fprintf(w, "host %s (%s): verified, %d checks passed, %d waived\n", h.Host, h.Address, pass, waived)
		}
		for _, c := range h.Checks {
			switch c.Status {
			case verify.Pass:
				if c.Detail != "" { // what a passing check saw, such as versions
					fmt.Fprintf(w, "  %-6s %-34s %s\n", "SEEN", c.ID, c.Detail)
				}
			case verify.Fail:
				fmt.Fprintf(w, "  FAIL   %-34s %-16s %s\n         %s\n         fix: %s\n", c.ID, c.Reference, c.Title, c.Detail, c.Hint)
			case verify.Waived:
				fmt.Fprintf(w, "  WAIVED %-34s %-16s %s\n         %s\n", c.ID, c.Reference, c.Detail, c.Waiver)
			}
		}
	}
	fmt.Fprintf(w, "\n%d host(s) checked: %d verified, %d failed.\n", len(reports), len(reports)-failedHosts, failedHosts)
}

// JUnit XML: a test suite per host, a test case per check; waivers are
// skipped cases so CI dashboards show them.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func writeJUnit(path string, reports []provision.HostResult) error {
	var s junitSuites
	for _, h := range reports {
		suite := junitSuite{Name: "fjord.verify." + h.Host, Time: fmt.Sprintf("%.3f", h.Seconds)}
		if h.Error != "" {
			suite.Errors = 1
			suite.Tests = 1
			suite.Cases = append(suite.Cases, junitCase{Name: "connect", ClassName: h.Host, Error: &junitMessage{Message: h.Error}})
		}
		for _, c := range h.Checks {
			jc := junitCase{Name: c.ID + ": " + c.Title, ClassName: h.Host}
			switch c.Status {
			case verify.Fail:
				suite.Failures++
				jc.Failure = &junitMessage{Message: c.Detail, Text: c.Reference + "\nfix: " + c.Hint}
			case verify.Waived:
				suite.Skipped++
				jc.Skipped = &junitMessage{Message: "waived: " + c.Waiver}
			}
			suite.Tests++
			suite.Cases = append(suite.Cases, jc)
		}
		s.Suites = append(s.Suites, suite)
	}
	b, err := xml.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	b = append([]byte(xml.Header), append(b, '\n')...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write JUnit report: %w", err)
	}
	return nil
}
