package main

import (
	"fmt"
	"strings"

	"github.com/SSHcom/privx-sdk-go/v2/api/authorizer"
	"github.com/SSHcom/privx-sdk-go/v2/api/rolestore"
)

// fallbackAccessGroupID stands in when the default access group cannot be looked up, so the
// rest of a scenario still runs (the failed setup step still fails it).
const fallbackAccessGroupID = "00000000-0000-4000-8000-0000000000a9"

// defaultAccessGroup finds the default access group as the provider's users do (the
// privx_access_group data source with default = true).
func (h *Harness) defaultAccessGroup() string {
	az := authorizer.New(h.conn)
	id := ""
	h.step("setup: default access group", "authorizer.GetAccessGroups", func() ([]Drift, error) {
		groups, err := az.GetAccessGroups()
		if err != nil {
			return nil, err
		}
		for _, group := range groups.Items {
			if group.Default {
				id = group.ID
				return nil, nil
			}
		}
		return nil, fmt.Errorf("no access group has default=true (%d listed)", len(groups.Items))
	})
	if id == "" {
		return fallbackAccessGroupID
	}
	return id
}

// adminRole resolves privx-admin by name (the privx_role data source's first call).
func (h *Harness) adminRole() rolestore.RoleHandle {
	rs := rolestore.New(h.conn)
	handle := rolestore.RoleHandle{}
	h.step("setup: resolve privx-admin", "rolestore.ResolveRoles", func() ([]Drift, error) {
		roles, err := rs.ResolveRoles([]string{"privx-admin"})
		if err != nil {
			return nil, err
		}
		if len(roles.Items) != 1 {
			return nil, fmt.Errorf("resolving privx-admin: want 1 role, got %d", len(roles.Items))
		}
		handle = rolestore.RoleHandle{ID: roles.Items[0].ID, Name: roles.Items[0].Name}
		return nil, nil
	})
	if handle.ID == "" {
		// So that the rest of the scenario still runs; the failed step above still fails it.
		h.step("setup: find privx-admin in the role list (fallback)", "rolestore.GetRoles", func() ([]Drift, error) {
			roles, err := rs.GetRoles()
			if err != nil {
				return nil, err
			}
			for _, role := range roles.Items {
				if role.Name == "privx-admin" {
					handle = rolestore.RoleHandle{ID: role.ID, Name: role.Name}
					return nil, nil
				}
			}
			return nil, fmt.Errorf("no role named privx-admin among %d listed", len(roles.Items))
		})
	}
	return handle
}

func roleFields(want, got *rolestore.Role) []Drift {
	return fields(
		"name", want.Name, got.Name,
		"comment", want.Comment, got.Comment,
		"access_group_id", want.AccessGroupID, got.AccessGroupID,
		"permissions", want.Permissions, got.Permissions,
		"permit_agent", want.PermitAgent, got.PermitAgent,
		"source_rules", want.SourceRules, got.SourceRules,
	)
}

func roleScenario(h *Harness) {
	rs := rolestore.New(h.conn)
	ag := h.defaultAccessGroup()
	// The provider unmarshals source_rule from JSON into rolestore.SourceRule.
	rules := rolestore.SourceRule{Type: "GROUP", Match: "ANY", SourceRules: []rolestore.SourceRule{}}
	role := rolestore.Role{
		Name:          unique("compat-role"),
		Comment:       "created by the SDK compatibility suite",
		AccessGroupID: ag,
		Permissions:   []string{"users-view", "hosts-view"},
		PermitAgent:   false,
		SourceRules:   rules,
	}
	id := ""
	if !h.step("create", "rolestore.CreateRole", func() ([]Drift, error) {
		identifier, err := rs.CreateRole(&role)
		id = identifier.ID
		if err == nil && id == "" {
			return nil, fmt.Errorf("CreateRole returned no id")
		}
		return nil, err
	}) {
		h.skip("read", "rolestore.GetRole", "create failed")
		return
	}
	var publicKeys []string
	keyID := ""
	if h.step("principal key: generate", "rolestore.CreatePrincipalKey", func() ([]Drift, error) {
		identifier, err := rs.CreatePrincipalKey(id)
		keyID = identifier.ID
		if err == nil && keyID == "" {
			return nil, fmt.Errorf("CreatePrincipalKey returned no id")
		}
		return nil, err
	}) {
		h.step("principal key: read", "rolestore.GetPrincipalKey", func() ([]Drift, error) {
			key, err := rs.GetPrincipalKey(id, keyID)
			if err != nil {
				return nil, err
			}
			if !strings.Contains(key.PublicKey, "ssh-rsa ") {
				return []Drift{{Field: "public_key", Wrote: "ssh-rsa …", Read: key.PublicKey}}, nil
			}
			publicKeys = append(publicKeys, key.PublicKey)
			return nil, nil
		})
	} else {
		h.skip("principal key: read", "rolestore.GetPrincipalKey", "generating the key failed")
	}
	h.step("read", "rolestore.GetRole", func() ([]Drift, error) {
		got, err := rs.GetRole(id)
		if err != nil {
			return nil, err
		}
		return append(roleFields(&role, got), fields("id", id, got.ID)...), nil
	})
	updated := rolestore.Role{
		ID:                  id,
		Name:                role.Name + "-renamed",
		Comment:             "updated by the SDK compatibility suite",
		AccessGroupID:       ag,
		Permissions:         []string{"users-view"},
		PermitAgent:         true,
		PrincipalPublicKeys: publicKeys,
		SourceRules:         rules,
	}
	h.step("update", "rolestore.UpdateRole", func() ([]Drift, error) {
		return nil, rs.UpdateRole(id, &updated)
	})
	h.step("read after update", "rolestore.GetRole", func() ([]Drift, error) {
		got, err := rs.GetRole(id)
		if err != nil {
			return nil, err
		}
		return roleFields(&updated, got), nil
	})
	h.step("delete", "rolestore.DeleteRole", func() ([]Drift, error) {
		return nil, rs.DeleteRole(id)
	})
	h.step("read after delete", "rolestore.GetRole", func() ([]Drift, error) {
		_, err := rs.GetRole(id)
		return nil, expectGone(err)
	})
}

func roleDataScenario(h *Harness) {
	rs := rolestore.New(h.conn)
	id := ""
	if !h.step("resolve by name", "rolestore.ResolveRoles", func() ([]Drift, error) {
		roles, err := rs.ResolveRoles([]string{"privx-admin"})
		if err != nil {
			return nil, err
		}
		if len(roles.Items) != 1 {
			return nil, fmt.Errorf("want exactly 1 role named privx-admin, got %d", len(roles.Items))
		}
		id = roles.Items[0].ID
		return fields("items[0].name", "privx-admin", roles.Items[0].Name), nil
	}) {
		h.skip("read", "rolestore.GetRole", "resolve failed")
		return
	}
	h.step("read", "rolestore.GetRole", func() ([]Drift, error) {
		role, err := rs.GetRole(id)
		if err != nil {
			return nil, err
		}
		return append(fields("id", id, role.ID, "name", "privx-admin", role.Name), nonEmpty("access_group_id", role.AccessGroupID)...), nil
	})
}
