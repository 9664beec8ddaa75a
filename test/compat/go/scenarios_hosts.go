package main

import (
	"fmt"

	"github.com/SSHcom/privx-sdk-go/v2/api/hoststore"
)

func hostFields(want, got *hoststore.Host) []Drift {
	services := func(list []hoststore.HostService) []string {
		out := []string{}
		for _, s := range list {
			out = append(out, fmt.Sprintf("%s %s:%d", s.Service, s.Address, s.Port))
		}
		return out
	}
	principals := func(list []hoststore.HostPrincipals) []string {
		out := []string{}
		for _, p := range list {
			for _, r := range p.Roles {
				out = append(out, p.Principal+" "+r.ID)
			}
			if len(p.Roles) == 0 {
				out = append(out, p.Principal)
			}
		}
		return out
	}
	return fields(
		"common_name", want.CommonName, got.CommonName,
		"external_id", want.ExternalID, got.ExternalID,
		"access_group_id", want.AccessGroupID, got.AccessGroupID,
		"addresses", want.Addresses, got.Addresses,
		"tags", want.Tags, got.Tags,
		"comment", want.Comment, got.Comment,
		"host_type", want.HostType, got.HostType,
		"host_classification", want.HostClassification, got.HostClassification,
		"organization", want.Organization, got.Organization,
		"user_message", want.UserMessage, got.UserMessage,
		"audit_enabled", want.AuditEnabled, got.AuditEnabled,
		"services", services(want.Services), services(got.Services),
		"principals[].principal+roles", principals(want.Principals), principals(got.Principals),
	)
}

func hostScenario(h *Harness) {
	hs := hoststore.New(h.conn)
	ag := h.defaultAccessGroup()
	admin := h.adminRole()
	audit := true
	name := unique("compat-host")
	host := hoststore.Host{
		CommonName:         name,
		ExternalID:         name,
		AccessGroupID:      ag,
		Addresses:          []string{"192.0.2.20", name + ".example.com"},
		Tags:               []string{"compat"},
		Comment:            "created by the SDK compatibility suite",
		HostType:           "",
		HostClassification: "",
		Organization:       "Example",
		UserMessage:        "hello",
		AuditEnabled:       &audit,
		Services:           []hoststore.HostService{{Service: "SSH", Address: "192.0.2.20", Port: 22, Source: "UI"}},
		Principals: []hoststore.HostPrincipals{{
			Principal: "root",
			Source:    "UI",
			Roles:     []hoststore.HostRole{{ID: admin.ID, Name: admin.Name}},
		}},
	}
	id := ""
	if !h.step("create", "hoststore.CreateHost", func() ([]Drift, error) {
		identifier, err := hs.CreateHost(&host)
		id = identifier.ID
		if err == nil && id == "" {
			return nil, fmt.Errorf("CreateHost returned no id")
		}
		return nil, err
	}) {
		h.skip("read", "hoststore.GetHost", "create failed")
		return
	}
	var current *hoststore.Host
	h.step("read", "hoststore.GetHost", func() ([]Drift, error) {
		got, err := hs.GetHost(id)
		if err != nil {
			return nil, err
		}
		current = got
		return append(hostFields(&host, got), fields("id", id, got.ID)...), nil
	})
	if current == nil {
		h.skip("update", "hoststore.UpdateHost", "read failed")
	} else {
		// The provider's update: the object read, with the managed fields replaced.
		current.Comment = "updated by the SDK compatibility suite"
		current.Tags = []string{"compat", "updated"}
		current.Addresses = []string{"192.0.2.21"}
		current.Services = []hoststore.HostService{{Service: "SSH", Address: "192.0.2.21", Port: 2222, Source: "UI"}}
		want := *current
		h.step("update", "hoststore.UpdateHost", func() ([]Drift, error) {
			return nil, hs.UpdateHost(id, current)
		})
		h.step("read after update", "hoststore.GetHost", func() ([]Drift, error) {
			got, err := hs.GetHost(id)
			if err != nil {
				return nil, err
			}
			return hostFields(&want, got), nil
		})
	}
	h.step("delete", "hoststore.DeleteHost", func() ([]Drift, error) {
		return nil, hs.DeleteHost(id)
	})
	h.step("read after delete", "hoststore.GetHost", func() ([]Drift, error) {
		_, err := hs.GetHost(id)
		return nil, expectGone(err)
	})
}
