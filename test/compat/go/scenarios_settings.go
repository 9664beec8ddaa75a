package main

import (
	"encoding/json"
	"fmt"

	"github.com/SSHcom/privx-sdk-go/v2/api/filters"
	"github.com/SSHcom/privx-sdk-go/v2/api/settings"
)

// decodeObject reads a raw settings answer as a JSON object.
func decodeObject(raw *json.RawMessage) (map[string]interface{}, error) {
	if raw == nil {
		return nil, fmt.Errorf("no body")
	}
	var out map[string]interface{}
	if err := json.Unmarshal(*raw, &out); err != nil {
		return nil, fmt.Errorf("decoding %s: %v", string(*raw), err)
	}
	return out, nil
}

// settingsScenario makes every call of the SDK's settings package: status, both schema reads,
// scope and section reads and writes (with the values each write should read back), and the
// restart check. Token lifetimes are written with their defaults, so later scenarios see no change.
func settingsScenario(h *Harness) {
	s := settings.New(h.conn)
	h.step("status", "settings.Status", func() ([]Drift, error) {
		status, err := s.Status()
		if err != nil {
			return nil, err
		}
		return fields("status", "ok", status.Status), nil
	})
	h.step("scope schema", "settings.GetScopeSchema", func() ([]Drift, error) {
		schema, err := s.GetScopeSchema("auth")
		if err != nil {
			return nil, err
		}
		doc, err := decodeObject(schema)
		if err != nil {
			return nil, err
		}
		properties, _ := doc["properties"].(map[string]interface{})
		_, tokens := properties["tokens"]
		return fields("title", "auth", doc["title"], "properties.tokens", true, tokens), nil
	})
	h.step("section schema", "settings.GetSectionSchema", func() ([]Drift, error) {
		schema, err := s.GetSectionSchema("auth", "tokens")
		if err != nil {
			return nil, err
		}
		doc, err := decodeObject(schema)
		if err != nil {
			return nil, err
		}
		return fields("x-privgate-acted-on", true, doc["x-privgate-acted-on"], "restart_required", false, doc["restart_required"]), nil
	})
	tokens := map[string]interface{}{"access_token_ttl_seconds": 300, "refresh_token_ttl_seconds": 28800, "privx_other": "kept"}
	h.step("update section", "settings.UpdateSectionSettings", func() ([]Drift, error) {
		return nil, s.UpdateSectionSettings("auth", "tokens", tokens)
	})
	h.step("read section", "settings.GetSectionSettings", func() ([]Drift, error) {
		raw, err := s.GetSectionSettings("auth", "tokens")
		if err != nil {
			return nil, err
		}
		got, err := decodeObject(raw)
		if err != nil {
			return nil, err
		}
		return fields(
			"access_token_ttl_seconds", tokens["access_token_ttl_seconds"], got["access_token_ttl_seconds"],
			"refresh_token_ttl_seconds", tokens["refresh_token_ttl_seconds"], got["refresh_token_ttl_seconds"],
			"privx_other", tokens["privx_other"], got["privx_other"],
		), nil
	})
	general := map[string]interface{}{"banner": unique("compat-settings")}
	h.step("update scope", "settings.UpdateScopeSettings", func() ([]Drift, error) {
		return nil, s.UpdateScopeSettings(map[string]interface{}{"general": general}, "global")
	})
	h.step("read scope", "settings.GetScopeSettings", func() ([]Drift, error) {
		raw, err := s.GetScopeSettings("global", filters.SetCustomParams("merge", "true"))
		if err != nil {
			return nil, err
		}
		got, err := decodeObject(raw)
		if err != nil {
			return nil, err
		}
		section, _ := got["general"].(map[string]interface{})
		return fields("general.banner", general["banner"], section["banner"]), nil
	})
	h.step("restart required", "settings.VerifyRestartRequired", func() ([]Drift, error) {
		answer, err := s.VerifyRestartRequired("auth", map[string]interface{}{"tokens": tokens})
		if err != nil {
			return nil, err
		}
		return fields("restart_required", false, (*answer)["restart_required"]), nil
	})
	h.step("unknown scope", "settings.GetScopeSettings", func() ([]Drift, error) {
		_, err := s.GetScopeSettings("no-such-scope")
		return nil, expectGone(err)
	})
}
