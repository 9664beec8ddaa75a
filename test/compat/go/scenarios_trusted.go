package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/SSHcom/privx-sdk-go/v2/api/authorizer"
	"github.com/SSHcom/privx-sdk-go/v2/api/filters"
	"github.com/SSHcom/privx-sdk-go/v2/api/userstore"
)

func trustedClientFields(want, got *userstore.TrustedClient) []Drift {
	drift := fields(
		"type", want.Type, got.Type,
		"name", want.Name, got.Name,
		"enabled", want.Enabled, got.Enabled,
		"extender_address", want.ExtenderAddress, got.ExtenderAddress,
		"subnets", want.Subnets, got.Subnets,
		"routing_prefix", want.RoutingPrefix, got.RoutingPrefix,
		"web_proxy_address", want.WebProxyAddress, got.WebProxyAddress,
		"web_proxy_extender_route_patterns", want.WebProxyExtenderRoutePatterns, got.WebProxyExtenderRoutePatterns,
		"extender_mode", want.ExtenderMode, got.ExtenderMode,
		"extender_ssh_address", want.ExtenderSSHAddress, got.ExtenderSSHAddress,
		"extender_ssh_port", want.ExtenderSSHPort, got.ExtenderSSHPort,
		"extender_public_key", want.ExtenderPublicKey, got.ExtenderPublicKey,
	)
	if want.Permissions != nil {
		drift = append(drift, fields("permissions", want.Permissions, got.Permissions)...)
	}
	if want.AccessGroupID != "" {
		drift = append(drift, fields("access_group_id", want.AccessGroupID, got.AccessGroupID)...)
	}
	return drift
}

func (h *Harness) createTrustedClient(us *userstore.UserStore, step string, client *userstore.TrustedClient) string {
	id := ""
	h.step(step, "userstore.CreateTrustedClient", func() ([]Drift, error) {
		identifier, err := us.CreateTrustedClient(client)
		id = identifier.ID
		if err == nil && id == "" {
			return nil, fmt.Errorf("CreateTrustedClient returned no id")
		}
		return nil, err
	})
	return id
}

func (h *Harness) readTrustedClient(us *userstore.UserStore, step, id string, want *userstore.TrustedClient) *userstore.TrustedClient {
	var read *userstore.TrustedClient
	h.step(step, "userstore.GetTrustedClient", func() ([]Drift, error) {
		got, err := us.GetTrustedClient(id)
		if err != nil {
			return nil, err
		}
		read = got
		return append(trustedClientFields(want, got), fields("id", id, got.ID)...), nil
	})
	return read
}

func (h *Harness) deleteTrustedClient(us *userstore.UserStore, step, id string) {
	h.step(step, "userstore.DeleteTrustedClient", func() ([]Drift, error) {
		return nil, us.DeleteTrustedClient(id)
	})
}

func carrierScenario(h *Harness) {
	us := userstore.New(h.conn)
	carrier := userstore.TrustedClient{
		Type:                          "CARRIER",
		Name:                          unique("compat-carrier"),
		Enabled:                       true,
		Permissions:                   []string{"privx-carrier"},
		ExtenderAddress:               []string{},
		WebProxyAddress:               "10.0.0.10",
		WebProxyExtenderRoutePatterns: []string{"*.compat.example.com"},
		Subnets:                       []string{},
	}
	id := h.createTrustedClient(us, "create", &carrier)
	if id == "" {
		h.skip("read", "userstore.GetTrustedClient", "create failed")
		return
	}
	h.readTrustedClient(us, "read", id, &carrier)
	// The provider's update: read the current object, change the fields it manages, PUT it back.
	current := h.readTrustedClient(us, "update: read current", id, &carrier)
	if current != nil {
		current.Name = carrier.Name + "-renamed"
		current.Enabled = false
		current.RoutingPrefix = "compat"
		current.WebProxyAddress = "10.0.0.11"
		current.Subnets = []string{"10.1.0.0/16"}
		want := *current
		h.step("update", "userstore.UpdateTrustedClient", func() ([]Drift, error) {
			return nil, us.UpdateTrustedClient(id, current)
		})
		h.readTrustedClient(us, "read after update", id, &want)
	} else {
		h.skip("update", "userstore.UpdateTrustedClient", "reading the current object failed")
	}
	h.deleteTrustedClient(us, "delete", id)
	h.step("read after delete", "userstore.GetTrustedClient", func() ([]Drift, error) {
		_, err := us.GetTrustedClient(id)
		return nil, expectGone(err)
	})
}

func extenderScenario(h *Harness) {
	us := userstore.New(h.conn)
	extender := userstore.TrustedClient{
		Type:            "EXTENDER",
		Name:            unique("compat-extender"),
		Enabled:         true,
		ExtenderAddress: []string{"192.0.2.10"},
		Subnets:         []string{"192.0.2.0/24"},
		RoutingPrefix:   "",
		// Not set by the provider, but fields of the SDK struct: they must round-trip too.
		ExtenderMode:       "ssh",
		ExtenderSSHAddress: "extender.example.com",
		ExtenderSSHPort:    2222,
		ExtenderPublicKey:  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNvbXBhdC1leHRlbmRlci1rZXktYnl0ZXMtMDEyMw compat",
	}
	id := h.createTrustedClient(us, "create", &extender)
	if id == "" {
		h.skip("read", "userstore.GetTrustedClient", "create failed")
		return
	}
	h.readTrustedClient(us, "read", id, &extender)
	current := h.readTrustedClient(us, "update: read current", id, &extender)
	enabled := true
	if current != nil {
		enabled = current.Enabled
	}
	// The provider's update builds a fresh object and keeps `enabled` from the server.
	updated := userstore.TrustedClient{
		Type:            "EXTENDER",
		Name:            extender.Name + "-renamed",
		RoutingPrefix:   "ext",
		Enabled:         enabled,
		ExtenderAddress: []string{"192.0.2.11", "192.0.2.12"},
		Subnets:         []string{"192.0.2.0/24", "198.51.100.0/24"},
		ExtenderMode:    "tcp",
		ExtenderSSHPort: 22,
	}
	h.step("update", "userstore.UpdateTrustedClient", func() ([]Drift, error) {
		return nil, us.UpdateTrustedClient(id, &updated)
	})
	h.readTrustedClient(us, "read after update", id, &updated)
	h.deleteTrustedClient(us, "delete", id)
	h.step("read after delete", "userstore.GetTrustedClient", func() ([]Drift, error) {
		_, err := us.GetTrustedClient(id)
		return nil, expectGone(err)
	})
}

func webproxyDataScenario(h *Harness) {
	us := userstore.New(h.conn)
	proxy := userstore.TrustedClient{
		Type:        "ICAP",
		Name:        unique("compat-webproxy"),
		Enabled:     true,
		Permissions: []string{"privx-web-proxy"},
	}
	id := h.createTrustedClient(us, "setup: create web proxy", &proxy)
	if id == "" {
		h.skip("read", "userstore.GetTrustedClients", "setup failed")
		return
	}
	h.step("read (search by name)", "userstore.GetTrustedClients", func() ([]Drift, error) {
		result, err := us.GetTrustedClients()
		if err != nil {
			return nil, err
		}
		for _, client := range result.Items {
			if client.Name == proxy.Name && client.Type == "ICAP" {
				return append(trustedClientFields(&proxy, &client), fields("id", id, client.ID)...), nil
			}
		}
		return nil, fmt.Errorf("no ICAP trusted client named %s among %d listed", proxy.Name, len(result.Items))
	})
	h.deleteTrustedClient(us, "cleanup: delete web proxy", id)
}

type configCalls struct {
	kind       string
	clientType string
	permission string
	sessions   func(az *authorizer.Authorizer, id string) (*authorizer.SessionIDResponse, error)
	download   func(az *authorizer.Authorizer, id, session, file string) error
	sessionsFn string
	downloadFn string
}

func configScenario(h *Harness, calls configCalls) {
	us := userstore.New(h.conn)
	az := authorizer.New(h.conn)
	client := userstore.TrustedClient{Type: calls.clientType, Name: unique("compat-" + calls.kind), Enabled: true, Permissions: []string{calls.permission}}
	id := h.createTrustedClient(us, "setup: create "+calls.kind, &client)
	if id == "" {
		h.skip("config session", calls.sessionsFn, "setup failed")
		return
	}
	session := ""
	if h.step("config session", calls.sessionsFn, func() ([]Drift, error) {
		response, err := calls.sessions(az, id)
		if err != nil {
			return nil, err
		}
		session = response.SessionID
		return nonEmpty("session_id", session), nil
	}) && session != "" {
		// Note: the SDK's Download calls log.Fatal on a non-200 answer, which ends this process;
		// the runner reports that as this step failing.
		h.step("download config", calls.downloadFn, func() ([]Drift, error) {
			dir, err := os.MkdirTemp("", "privx-compat-config-")
			if err != nil {
				return nil, err
			}
			defer os.RemoveAll(dir)
			file := filepath.Join(dir, calls.kind+"-config.toml")
			if err := calls.download(az, id, session, file); err != nil {
				return nil, err
			}
			content, err := os.ReadFile(file)
			if err != nil {
				return nil, err
			}
			if len(content) == 0 {
				return nil, fmt.Errorf("the downloaded config is empty")
			}
			return nil, nil
		})
	} else {
		h.skip("download config", calls.downloadFn, "no config session")
	}
	h.deleteTrustedClient(us, "cleanup: delete "+calls.kind, id)
}

func webproxyConfigScenario(h *Harness) {
	configScenario(h, configCalls{
		kind: "webproxy", clientType: "ICAP", permission: "privx-web-proxy",
		sessions: func(az *authorizer.Authorizer, id string) (*authorizer.SessionIDResponse, error) {
			return az.GetWebProxyConfigSessions(id)
		},
		download:   func(az *authorizer.Authorizer, id, s, f string) error { return az.DownloadWebProxyConfig(id, s, f) },
		sessionsFn: "authorizer.GetWebProxyConfigSessions", downloadFn: "authorizer.DownloadWebProxyConfig",
	})
}

func carrierConfigScenario(h *Harness) {
	configScenario(h, configCalls{
		kind: "carrier", clientType: "CARRIER", permission: "privx-carrier",
		sessions: func(az *authorizer.Authorizer, id string) (*authorizer.SessionIDResponse, error) {
			return az.GetCarrierConfigSessions(id)
		},
		download:   func(az *authorizer.Authorizer, id, s, f string) error { return az.DownloadCarrierConfig(id, s, f) },
		sessionsFn: "authorizer.GetCarrierConfigSessions", downloadFn: "authorizer.DownloadCarrierConfig",
	})
}

func extenderConfigScenario(h *Harness) {
	configScenario(h, configCalls{
		kind: "extender", clientType: "EXTENDER", permission: "privx-extender",
		sessions: func(az *authorizer.Authorizer, id string) (*authorizer.SessionIDResponse, error) {
			return az.GetExtenderConfigSessions(id)
		},
		download:   func(az *authorizer.Authorizer, id, s, f string) error { return az.DownloadExtenderConfig(id, s, f) },
		sessionsFn: "authorizer.GetExtenderConfigSessions", downloadFn: "authorizer.DownloadExtenderConfig",
	})
}

func accessGroupScenario(h *Harness) {
	az := authorizer.New(h.conn)
	group := authorizer.AccessGroup{Name: unique("compat-ag"), Comment: "created by the SDK compatibility suite"}
	id := ""
	if !h.step("create", "authorizer.CreateAccessGroup", func() ([]Drift, error) {
		identifier, err := az.CreateAccessGroup(&group)
		id = identifier.ID
		if err == nil && id == "" {
			return nil, fmt.Errorf("CreateAccessGroup returned no id")
		}
		return nil, err
	}) {
		h.skip("read", "authorizer.GetAccessGroup", "create failed")
		return
	}
	var current *authorizer.AccessGroup
	h.step("read", "authorizer.GetAccessGroup", func() ([]Drift, error) {
		got, err := az.GetAccessGroup(id)
		if err != nil {
			return nil, err
		}
		current = got
		return fields("id", id, got.ID, "name", group.Name, got.Name, "comment", group.Comment, got.Comment), nil
	})
	if current == nil {
		h.skip("update", "authorizer.UpdateAccessGroup", "read failed")
	} else {
		current.Name = group.Name + "-renamed"
		current.Comment = "updated by the SDK compatibility suite"
		h.step("update", "authorizer.UpdateAccessGroup", func() ([]Drift, error) {
			return nil, az.UpdateAccessGroup(id, current)
		})
		h.step("read after update", "authorizer.GetAccessGroup", func() ([]Drift, error) {
			got, err := az.GetAccessGroup(id)
			if err != nil {
				return nil, err
			}
			return fields("name", current.Name, got.Name, "comment", current.Comment, got.Comment), nil
		})
		h.step("search (keywords)", "authorizer.SearchAccessGroups", func() ([]Drift, error) {
			result, err := az.SearchAccessGroups(&authorizer.AccessGroupSearch{Keywords: current.Name})
			if err != nil {
				return nil, err
			}
			if result.Count != 1 || len(result.Items) != 1 {
				return nil, fmt.Errorf("searching for %q found %d (count %d), want 1", current.Name, len(result.Items), result.Count)
			}
			return fields("id", id, result.Items[0].ID), nil
		})
	}
	accessGroupCaSteps(h, az, id)
	h.step("delete", "authorizer.DeleteAccessGroup", func() ([]Drift, error) {
		return nil, az.DeleteAccessGroup(id)
	})
	h.step("read after delete", "authorizer.GetAccessGroup", func() ([]Drift, error) {
		_, err := az.GetAccessGroup(id)
		return nil, expectGone(err)
	})
}

// accessGroupCaSteps renews a group's CA key, finds it among the authorizer's CAs, and revokes it
// (the PrivX key-rotation calls; the provider makes none of them, the SDK offers them).
func accessGroupCaSteps(h *Harness, az *authorizer.Authorizer, id string) {
	keyID := ""
	if !h.step("renew CA key", "authorizer.RenewAccessGroupCAKey", func() ([]Drift, error) {
		got, err := az.RenewAccessGroupCAKey(id, &authorizer.AccessGroupCARenewal{})
		keyID = got
		if err == nil && keyID == "" {
			return nil, fmt.Errorf("RenewAccessGroupCAKey returned no id")
		}
		return nil, err
	}) {
		h.skip("revoke CA key", "authorizer.RevokeAccessGroupCAKey", "renew failed")
		return
	}
	h.step("list CAs of the group", "authorizer.GetCACertificates", func() ([]Drift, error) {
		result, err := az.GetCACertificates(filters.SetCustomParams("access_group_id", id))
		if err != nil {
			return nil, err
		}
		for _, ca := range result.Items {
			if ca.ID == keyID {
				return append(fields("access_group_id", id, ca.AccessGroupID), nonEmpty("public_key_string", ca.PublicKeyString)...), nil
			}
		}
		return nil, fmt.Errorf("the renewed CA %s is not among the group's %d CAs", keyID, len(result.Items))
	})
	h.step("revoke CA key", "authorizer.RevokeAccessGroupCAKey", func() ([]Drift, error) {
		return nil, az.RevokeAccessGroupCAKey(id, keyID)
	})
}

func accessGroupDataScenario(h *Harness) {
	az := authorizer.New(h.conn)
	h.step("read (default = true)", "authorizer.GetAccessGroups", func() ([]Drift, error) {
		result, err := az.GetAccessGroups()
		if err != nil {
			return nil, err
		}
		for _, group := range result.Items {
			if group.Default {
				return append(nonEmpty("id", group.ID), nonEmpty("name", group.Name)...), nil
			}
		}
		return nil, fmt.Errorf("no access group with default=true among %d listed", len(result.Items))
	})
	group := authorizer.AccessGroup{Name: unique("compat-ag-ds"), Comment: "data source"}
	id := ""
	if !h.step("setup: create access group", "authorizer.CreateAccessGroup", func() ([]Drift, error) {
		identifier, err := az.CreateAccessGroup(&group)
		id = identifier.ID
		return nil, err
	}) {
		h.skip("read (by name)", "authorizer.GetAccessGroups", "setup failed")
		return
	}
	h.step("read (by name)", "authorizer.GetAccessGroups", func() ([]Drift, error) {
		result, err := az.GetAccessGroups()
		if err != nil {
			return nil, err
		}
		for _, found := range result.Items {
			if found.Name == group.Name {
				return fields("id", id, found.ID, "comment", group.Comment, found.Comment), nil
			}
		}
		return nil, fmt.Errorf("no access group named %s among %d listed", group.Name, len(result.Items))
	})
	h.step("cleanup: delete access group", "authorizer.DeleteAccessGroup", func() ([]Drift, error) {
		return nil, az.DeleteAccessGroup(id)
	})
}
