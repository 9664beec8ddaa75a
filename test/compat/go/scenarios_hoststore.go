package main

import (
	"fmt"

	"github.com/SSHcom/privx-sdk-go/v2/api/filters"
	"github.com/SSHcom/privx-sdk-go/v2/api/hoststore"
)

// hostStoreFields compares the Host fields the hosts scenario does not: the ones HostSearch filters on.
func hostStoreFields(want, got *hoststore.Host) []Drift {
	return fields(
		"instance_id", want.InstanceID, got.InstanceID,
		"source_id", want.SourceID, got.SourceID,
		"distinguished_name", want.DistinguishedName, got.DistinguishedName,
		"organizational_unit", want.OrganizationalUnit, got.OrganizationalUnit,
		"zone", want.Zone, got.Zone,
		"scope", want.Scope, got.Scope,
		"cloud_provider", want.CloudProvider, got.CloudProvider,
		"cloud_provider_region", want.CloudProviderRegion, got.CloudProviderRegion,
		"deployable", want.Deployable, got.Deployable,
	)
}

// hostStoreScenario makes every hoststore call but the whitelists' (their own scenario): status,
// default service options, search by each HostSearch filter, list, tags, resolve, deployable and
// disabled switches, deployment, session host certificates, update and delete.
func hostStoreScenario(h *Harness) {
	hs := hoststore.New(h.conn)
	ag := h.defaultAccessGroup()
	admin := h.adminRole()
	name := unique("compat-hoststore")
	deployable := true
	host := hoststore.Host{
		CommonName:          name,
		ExternalID:          name + "-ext",
		InstanceID:          name + "-instance",
		SourceID:            name + "-source",
		AccessGroupID:       ag,
		DistinguishedName:   "CN=" + name,
		Organization:        "Example",
		OrganizationalUnit:  name + "-ou",
		Zone:                name + "-zone",
		HostType:            "linux",
		HostClassification:  name + "-class",
		Scope:               []string{name + "-scope"},
		CloudProvider:       "AWS",
		CloudProviderRegion: name + "-region",
		Deployable:          &deployable,
		Addresses:           []string{"192.0.2.60", name + ".example.com"},
		Tags:                []string{name + "-tag"},
		Services:            []hoststore.HostService{{Service: "SSH", Address: "192.0.2.60", Port: 2260, Source: "UI"}},
		Principals: []hoststore.HostPrincipals{{
			Principal: "root",
			Source:    "UI",
			Roles:     []hoststore.HostRole{{ID: admin.ID, Name: admin.Name}},
		}},
	}

	h.step("status", "hoststore.Status", func() ([]Drift, error) {
		_, err := hs.Status()
		return nil, err
	})
	h.step("default service options", "hoststore.GetServiceOptions", func() ([]Drift, error) {
		options, err := hs.GetServiceOptions()
		if err == nil && (options.SSHServiceOptions == nil || options.DBServiceOptions == nil) {
			return nil, fmt.Errorf("default service options lack a protocol block")
		}
		return nil, err
	})

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
	h.step("read", "hoststore.GetHost", func() ([]Drift, error) {
		got, err := hs.GetHost(id)
		if err != nil {
			return nil, err
		}
		drift := append(hostFields(&host, got), hostStoreFields(&host, got)...)
		return append(drift, fields("disabled", "FALSE", got.Disabled, "deleted", false, got.Deleted, "status", 0, len(got.Status))...), nil
	})

	// Each HostSearch filter alone must find the host (and, with its common name, only it).
	searches := []struct {
		label  string
		search hoststore.HostSearch
	}{
		{"id", hoststore.HostSearch{ID: id}},
		{"keywords", hoststore.HostSearch{Keywords: name}},
		{"common_name", hoststore.HostSearch{CommonName: []string{name}}},
		{"address", hoststore.HostSearch{Address: []string{name + ".example.com"}}},
		{"external_id", hoststore.HostSearch{ExternalID: name + "-ext"}},
		{"instance_id", hoststore.HostSearch{InstanceID: name + "-instance"}},
		{"source_id", hoststore.HostSearch{SourceID: name + "-source"}},
		{"distinguished_name", hoststore.HostSearch{DistinguishedName: []string{"CN=" + name}}},
		{"organization", hoststore.HostSearch{Organization: []string{"Example"}, CommonName: []string{name}}},
		{"organizational_unit", hoststore.HostSearch{OrganizationalUnit: []string{name + "-ou"}}},
		{"zone", hoststore.HostSearch{Zone: []string{name + "-zone"}}},
		{"host_type", hoststore.HostSearch{HostType: []string{"linux"}, CommonName: []string{name}}},
		{"host_classification", hoststore.HostSearch{HostClassification: []string{name + "-class"}}},
		{"role", hoststore.HostSearch{Role: []string{admin.ID}, CommonName: []string{name}}},
		{"scope", hoststore.HostSearch{Scope: []string{name + "-scope"}}},
		{"service", hoststore.HostSearch{Service: []string{"SSH"}, CommonName: []string{name}}},
		{"port", hoststore.HostSearch{Port: []int{2260}, CommonName: []string{name}}},
		{"tags", hoststore.HostSearch{Tags: []string{name + "-tag"}}},
		{"access_group_ids", hoststore.HostSearch{AccessGroupIDs: []string{ag}, CommonName: []string{name}}},
		{"cloud_providers", hoststore.HostSearch{CloudProviders: []string{"AWS"}, CommonName: []string{name}}},
		{"cloud_provider_regions", hoststore.HostSearch{CloudProviderRegions: []string{name + "-region"}}},
		{"deployable", hoststore.HostSearch{Deployable: true, CommonName: []string{name}}},
		{"disabled", hoststore.HostSearch{Disabled: "FALSE", CommonName: []string{name}}},
		{"ignore_disabled_sources", hoststore.HostSearch{IgnoreDisabledSources: true, CommonName: []string{name}}},
	}
	for _, s := range searches {
		search := s.search
		h.step("search by "+s.label, "hoststore.SearchHosts", func() ([]Drift, error) {
			found, err := hs.SearchHosts(&search, filters.Paging(0, 10))
			if err != nil {
				return nil, err
			}
			ids := []string{}
			for _, item := range found.Items {
				ids = append(ids, item.ID)
			}
			return fields("count", 1, found.Count, "ids", []string{id}, ids), nil
		})
	}
	h.step("search with no match", "hoststore.SearchHosts", func() ([]Drift, error) {
		found, err := hs.SearchHosts(&hoststore.HostSearch{Zone: []string{name + "-nowhere"}})
		if err != nil {
			return nil, err
		}
		return fields("count", 0, found.Count), nil
	})
	h.step("list", "hoststore.GetHosts", func() ([]Drift, error) {
		list, err := hs.GetHosts(filters.Paging(0, 1), filters.Sort("created", filters.DESC))
		if err == nil && (list.Count < 1 || len(list.Items) != 1) {
			return nil, fmt.Errorf("want at least one host and a page of one, got %d (%d items)", list.Count, len(list.Items))
		}
		return nil, err
	})
	h.step("tags", "hoststore.GetHostTags", func() ([]Drift, error) {
		tags, err := hs.GetHostTags(filters.SetCustomParams("query", name))
		if err != nil {
			return nil, err
		}
		return fields("tags", []string{name + "-tag"}, tags.Items), nil
	})
	h.step("resolve", "hoststore.ResolveHost", func() ([]Drift, error) {
		got, err := hs.ResolveHost(hoststore.HostResolve{Service: "SSH", Address: "192.0.2.60", Port: 2260})
		if err != nil {
			return nil, err
		}
		return fields("id", id, got.ID), nil
	})

	h.step("set not deployable", "hoststore.UpdateDeployStatus", func() ([]Drift, error) {
		return nil, hs.UpdateDeployStatus(id, false)
	})
	h.step("deploy a host that is not deployable", "hoststore.DeployHost", func() ([]Drift, error) {
		_, err := hs.DeployHost(&hoststore.Host{ExternalID: name + "-ext", Comment: "deployed"})
		if err == nil {
			return nil, fmt.Errorf("deploying over a host that is not deployable succeeded")
		}
		return nil, nil
	})
	h.step("set deployable", "hoststore.UpdateDeployStatus", func() ([]Drift, error) {
		if err := hs.UpdateDeployStatus(id, true); err != nil {
			return nil, err
		}
		got, err := hs.GetHost(id)
		if err != nil {
			return nil, err
		}
		return fields("deployable", true, got.Deployable != nil && *got.Deployable), nil
	})
	h.step("deploy over the host", "hoststore.DeployHost", func() ([]Drift, error) {
		answer, err := hs.DeployHost(&hoststore.Host{ExternalID: name + "-ext", Comment: "deployed"})
		if err != nil {
			return nil, err
		}
		got, err := hs.GetHost(id)
		if err != nil {
			return nil, err
		}
		return fields("id", id, answer.ID, "action", "updated", answer.Action, "comment", "deployed", got.Comment, "common_name", name, got.CommonName), nil
	})
	h.step("deploy a new host", "hoststore.DeployHost", func() ([]Drift, error) {
		answer, err := hs.DeployHost(&hoststore.Host{CommonName: name + "-deployed", ExternalID: name + "-deployed", Addresses: []string{"192.0.2.61"}, AccessGroupID: ag})
		if err != nil {
			return nil, err
		}
		drift := fields("action", "created", answer.Action)
		return drift, hs.DeleteHost(answer.ID)
	})

	h.step("disable", "hoststore.UpdateHostStatus", func() ([]Drift, error) {
		if err := hs.UpdateHostStatus(id, true); err != nil {
			return nil, err
		}
		got, err := hs.GetHost(id)
		if err != nil {
			return nil, err
		}
		return fields("disabled", "TRUE", got.Disabled), nil
	})
	h.step("enable", "hoststore.UpdateHostStatus", func() ([]Drift, error) {
		if err := hs.UpdateHostStatus(id, false); err != nil {
			return nil, err
		}
		got, err := hs.GetHost(id)
		if err != nil {
			return nil, err
		}
		return fields("disabled", "FALSE", got.Disabled), nil
	})

	h.step("session host certificates", "hoststore.GetSessionHostCertificates", func() ([]Drift, error) {
		certs, err := hs.GetSessionHostCertificates(id)
		if err != nil {
			return nil, err
		}
		return fields("count", 0, certs.Count), nil
	})
	h.step("delete session host certificates", "hoststore.DeleteSessionHostCertificates", func() ([]Drift, error) {
		return nil, hs.DeleteSessionHostCertificates(id)
	})
	h.step("delete an unknown session host certificate", "hoststore.DeleteSessionHostCertificate", func() ([]Drift, error) {
		err := hs.DeleteSessionHostCertificate(id, "no-such-certificate")
		if !notFound(err) {
			return nil, fmt.Errorf("want a not-found error, got: %v", err)
		}
		return nil, nil
	})

	h.step("update", "hoststore.UpdateHost", func() ([]Drift, error) {
		current, err := hs.GetHost(id)
		if err != nil {
			return nil, err
		}
		current.Zone = name + "-zone-2"
		current.Scope = []string{name + "-scope-2"}
		if err := hs.UpdateHost(id, current); err != nil {
			return nil, err
		}
		found, err := hs.SearchHosts(&hoststore.HostSearch{Zone: []string{name + "-zone-2"}, Scope: []string{name + "-scope-2"}})
		if err != nil {
			return nil, err
		}
		return fields("count", 1, found.Count), nil
	})
	h.step("delete", "hoststore.DeleteHost", func() ([]Drift, error) {
		return nil, hs.DeleteHost(id)
	})
	h.step("read after delete", "hoststore.GetHost", func() ([]Drift, error) {
		_, err := hs.GetHost(id)
		return nil, expectGone(err)
	})
}

// hostDataScenario is the host data source: a search by common_name, then the host by id.
func hostDataScenario(h *Harness) {
	hs := hoststore.New(h.conn)
	name := unique("compat-host-data")
	id := ""
	if !h.step("setup: create host", "hoststore.CreateHost", func() ([]Drift, error) {
		identifier, err := hs.CreateHost(&hoststore.Host{CommonName: name, Addresses: []string{"192.0.2.70"}, AccessGroupID: h.defaultAccessGroup()})
		id = identifier.ID
		return nil, err
	}) {
		return
	}
	h.step("by common_name", "hoststore.SearchHosts", func() ([]Drift, error) {
		found, err := hs.SearchHosts(&hoststore.HostSearch{CommonName: []string{name}})
		if err != nil {
			return nil, err
		}
		if len(found.Items) == 0 {
			return nil, fmt.Errorf("host with common name %q not found", name)
		}
		return fields("id", id, found.Items[0].ID, "common_name", name, found.Items[0].CommonName), nil
	})
	h.step("by id", "hoststore.GetHost", func() ([]Drift, error) {
		got, err := hs.GetHost(id)
		if err != nil {
			return nil, err
		}
		return fields("common_name", name, got.CommonName), nil
	})
	h.step("cleanup", "hoststore.DeleteHost", func() ([]Drift, error) {
		return nil, hs.DeleteHost(id)
	})
}
