package main

import (
	"fmt"

	"github.com/SSHcom/privx-sdk-go/v2/api/hoststore"
)

func whitelistFields(want, got *hoststore.Whitelist) []Drift {
	return fields(
		"name", want.Name, got.Name,
		"comment", want.Comment, got.Comment,
		"type", want.Type, got.Type,
		"whitelist_patterns", want.WhiteListPatterns, got.WhiteListPatterns,
	)
}

// whitelistScenario makes the privx_whitelist resource's calls (whitelist_resource.go), then the
// SDK's search and evaluate calls.
func whitelistScenario(h *Harness) {
	hs := hoststore.New(h.conn)
	whitelist := hoststore.Whitelist{
		Name:              unique("compat-whitelist"),
		Comment:           "Example whitelist for command restrictions",
		Type:              "glob",
		WhiteListPatterns: []string{"ls -la", "cat /etc/passwd", "systemctl status *"},
	}
	id := ""
	if !h.step("create", "hoststore.CreateWhitelist", func() ([]Drift, error) {
		identifier, err := hs.CreateWhitelist(&whitelist)
		id = identifier.ID
		if err == nil && id == "" {
			return nil, fmt.Errorf("CreateWhitelist returned no id")
		}
		return nil, err
	}) {
		h.skip("read", "hoststore.GetWhitelist", "create failed")
		return
	}
	h.step("read", "hoststore.GetWhitelist", func() ([]Drift, error) {
		got, err := hs.GetWhitelist(id)
		if err != nil {
			return nil, err
		}
		drift := append(whitelistFields(&whitelist, got), fields("id", id, got.ID)...)
		drift = append(drift, nonEmpty("author", got.Author)...)
		drift = append(drift, nonEmpty("created", got.Created)...)
		return drift, nil
	})
	// The provider's update: a Whitelist built from the plan, with the id.
	updated := hoststore.Whitelist{
		ID:                id,
		Name:              whitelist.Name,
		Comment:           "Updated whitelist comment",
		Type:              "regex",
		WhiteListPatterns: []string{"^git .*", "^docker .*"},
	}
	h.step("update", "hoststore.UpdateWhitelist", func() ([]Drift, error) {
		return nil, hs.UpdateWhitelist(id, updated)
	})
	h.step("read after update", "hoststore.GetWhitelist", func() ([]Drift, error) {
		got, err := hs.GetWhitelist(id)
		if err != nil {
			return nil, err
		}
		return append(whitelistFields(&updated, got), nonEmpty("updated", got.Updated)...), nil
	})
	h.step("search (keywords)", "hoststore.SearchWhitelists", func() ([]Drift, error) {
		result, err := hs.SearchWhitelists(hoststore.WhitelistSearch{Keywords: whitelist.Name})
		if err != nil {
			return nil, err
		}
		if result.Count != 1 || len(result.Items) != 1 {
			return nil, fmt.Errorf("want exactly the whitelist named %s, got count %d, %d items", whitelist.Name, result.Count, len(result.Items))
		}
		return append(whitelistFields(&updated, &result.Items[0]), fields("id", id, result.Items[0].ID)...), nil
	})
	h.step("evaluate", "hoststore.EvaluateWhitelist", func() ([]Drift, error) {
		result, err := hs.EvaluateWhitelist(&hoststore.WhitelistEvaluate{
			WhiteList:     updated,
			RShellVariant: "bash",
			Commands:      []string{"git status", "rm -rf /"},
		})
		if err != nil {
			return nil, err
		}
		allowed := []string{}
		for _, command := range result.CommandResults {
			allowed = append(allowed, fmt.Sprintf("%s=%t", command.Command, command.Allowed))
		}
		patterns := []string{}
		for _, pattern := range result.WhiteListPatternResults {
			patterns = append(patterns, pattern.WhiteListPattern)
		}
		return fields(
			"command_results", []string{"git status=true", "rm -rf /=false"}, allowed,
			"whitelist_pattern_results[].whitelist_pattern", updated.WhiteListPatterns, patterns,
		), nil
	})
	h.step("delete", "hoststore.DeleteWhitelist", func() ([]Drift, error) {
		return nil, hs.DeleteWhitelist(id)
	})
	h.step("read after delete", "hoststore.GetWhitelist", func() ([]Drift, error) {
		_, err := hs.GetWhitelist(id)
		return nil, expectGone(err)
	})
}

// whitelistDataScenario makes the privx_whitelist data source's calls (whitelist_data_source.go):
// by id, and by name through the list.
func whitelistDataScenario(h *Harness) {
	hs := hoststore.New(h.conn)
	whitelist := hoststore.Whitelist{Name: unique("compat-whitelist-ds"), Comment: "data source", Type: "glob", WhiteListPatterns: []string{"uptime"}}
	id := ""
	if !h.step("setup: create whitelist", "hoststore.CreateWhitelist", func() ([]Drift, error) {
		identifier, err := hs.CreateWhitelist(&whitelist)
		id = identifier.ID
		return nil, err
	}) {
		h.skip("read (by name)", "hoststore.GetWhitelists", "setup failed")
		return
	}
	h.step("read (by id)", "hoststore.GetWhitelist", func() ([]Drift, error) {
		got, err := hs.GetWhitelist(id)
		if err != nil {
			return nil, err
		}
		return whitelistFields(&whitelist, got), nil
	})
	h.step("read (by name)", "hoststore.GetWhitelists", func() ([]Drift, error) {
		result, err := hs.GetWhitelists()
		if err != nil {
			return nil, err
		}
		for _, found := range result.Items {
			if found.Name == whitelist.Name {
				return append(whitelistFields(&whitelist, &found), fields("id", id, found.ID)...), nil
			}
		}
		return nil, fmt.Errorf("no whitelist named %s among %d listed", whitelist.Name, len(result.Items))
	})
	h.step("cleanup: delete whitelist", "hoststore.DeleteWhitelist", func() ([]Drift, error) {
		return nil, hs.DeleteWhitelist(id)
	})
}
