// The Go SDK compatibility harness: runs one scenario (argv[1]) against privgate with the PrivX
// Go SDK, making the calls the Terraform provider makes for that resource or data source, with
// the same SDK structs. `harness list` prints the scenario names. See scripts/compat.mjs.
package main

import (
	"fmt"
	"os"
	"sort"
	"time"
)

var scenarios = map[string]func(h *Harness){
	"privx_role":                 roleScenario,
	"data.privx_role":            roleDataScenario,
	"privx_local_user":           localUserScenario,
	"privx_local_user_password":  localUserPasswordScenario,
	"privx_api_client":           apiClientScenario,
	"data.privx_api_client":      apiClientDataScenario,
	"privx_carrier":              carrierScenario,
	"privx_extender":             extenderScenario,
	"data.privx_webproxy":        webproxyDataScenario,
	"privx_access_group":         accessGroupScenario,
	"data.privx_access_group":    accessGroupDataScenario,
	"data.privx_webproxy_config": webproxyConfigScenario,
	"data.privx_carrier_config":  carrierConfigScenario,
	"data.privx_extender_config": extenderConfigScenario,
	"privx_host":                 hostScenario,
	"privx_whitelist":            whitelistScenario,
	"data.privx_whitelist":       whitelistDataScenario,
	"rolestore":                  roleStoreScenario,
	"monitor":                    monitorScenario,
	"hoststore":                  hostStoreScenario,
	"data.privx_host":            hostDataScenario,
	"settings":                   settingsScenario,
}

// unique makes names that do not collide with an earlier run against the same server.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000_000)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: harness list | harness SCENARIO")
		os.Exit(2)
	}
	if os.Args[1] == "list" {
		names := make([]string, 0, len(scenarios))
		for name := range scenarios {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Println(name)
		}
		return
	}
	run, ok := scenarios[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "harness: no scenario %q\n", os.Args[1])
		os.Exit(2)
	}
	h := newHarness(os.Args[1])
	run(h)
	if h.failed {
		os.Exit(1)
	}
}
