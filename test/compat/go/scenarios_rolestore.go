package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/SSHcom/privx-sdk-go/v2/api/authorizer"
	"github.com/SSHcom/privx-sdk-go/v2/api/filters"
	"github.com/SSHcom/privx-sdk-go/v2/api/rolestore"
)

// roleAllFields compares every Role field a client writes (beyond the provider's), contextual limit included.
func roleAllFields(want, got *rolestore.Role) []Drift {
	return append(roleFields(want, got), fields(
		"tags", want.Tags, got.Tags,
		"context", want.Context, got.Context,
		"grant_type", want.GrantType, got.GrantType,
		"grant_start", want.GrantStart, got.GrantStart,
		"grant_end", want.GrantEnd, got.GrantEnd,
		"grant_validity_periods", want.GrantValidityPeriods, got.GrantValidityPeriods,
		"floating_length", want.FloatingLength, got.FloatingLength,
	)...)
}

// roleStoreScenario makes the role-store calls SDK users make beyond the provider's: every Role
// field, list paging, search, members and imported principal keys.
func roleStoreScenario(h *Harness) {
	rs := rolestore.New(h.conn)
	// A role names an existing access group: make one first, as an admin would.
	groupID := ""
	if !h.step("setup: create access group", "authorizer.CreateAccessGroup", func() ([]Drift, error) {
		identifier, err := authorizer.New(h.conn).CreateAccessGroup(&authorizer.AccessGroup{Name: unique("compat-rolestore-group")})
		groupID = identifier.ID
		return nil, err
	}) {
		h.skip("create with every field", "rolestore.CreateRole", "setup failed")
		return
	}
	role := rolestore.Role{
		Name:                 unique("compat-rolestore"),
		Comment:              "every field",
		AccessGroupID:        groupID,
		Permissions:          []string{"hosts-view"},
		PermitAgent:          true,
		Tags:                 []string{"compat", "sdk"},
		GrantType:            "TIME_RESTRICTED",
		GrantStart:           "2026-01-01T00:00:00Z",
		GrantEnd:             "2030-01-01T00:00:00Z",
		GrantValidityPeriods: []rolestore.ValidityPeriod{{GrantStart: "2026-02-01T08:00:00Z", GrantEnd: "2026-02-01T16:00:00Z"}},
		FloatingLength:       60,
		SourceRules:          rolestore.SourceRule{Type: "GROUP", Match: "ANY", SourceRules: []rolestore.SourceRule{{Type: "RULE", Source: "local", SearchString: "ops", SourceRules: []rolestore.SourceRule{}}}},
		Context:              rolestore.ContextualLimit{Enabled: true, Validity: []string{"mon", "tue"}, StartTime: "08:00", EndTime: "17:00", TimeZone: "Europe/Helsinki", IPMasks: []string{"10.0.0.0/8"}},
	}
	id := ""
	if !h.step("create with every field", "rolestore.CreateRole", func() ([]Drift, error) {
		identifier, err := rs.CreateRole(&role)
		id = identifier.ID
		return nil, err
	}) {
		h.skip("read", "rolestore.GetRole", "create failed")
		return
	}
	h.step("read every field", "rolestore.GetRole", func() ([]Drift, error) {
		got, err := rs.GetRole(id)
		if err != nil {
			return nil, err
		}
		drift := roleAllFields(&role, got)
		if got.MemberCount == nil || *got.MemberCount != 0 {
			drift = append(drift, Drift{Field: "member_count", Wrote: 0, Read: got.MemberCount})
		}
		return drift, nil
	})
	h.step("list with limit 1", "rolestore.GetRoles", func() ([]Drift, error) {
		roles, err := rs.GetRoles(filters.Paging(0, 1), filters.Sort("name", filters.ASC))
		if err != nil {
			return nil, err
		}
		if len(roles.Items) != 1 || roles.Count < 3 {
			return nil, fmt.Errorf("limit=1: want 1 item of at least 3, got %d of %d", len(roles.Items), roles.Count)
		}
		return nil, nil
	})
	h.step("search by name", "rolestore.SearchRoles", func() ([]Drift, error) {
		roles, err := rs.SearchRoles(rolestore.RoleSearch{Name: []string{role.Name}})
		if err != nil {
			return nil, err
		}
		if len(roles.Items) != 1 {
			return nil, fmt.Errorf("want 1 role named %s, got %d", role.Name, len(roles.Items))
		}
		return fields("items[0].id", id, roles.Items[0].ID), nil
	})
	h.step("members", "rolestore.GetRoleMembers", func() ([]Drift, error) {
		members, err := rs.GetRoleMembers(id, filters.Paging(0, 10), filters.Sort("name", filters.DESC))
		if err != nil {
			return nil, err
		}
		return fields("count", 0, members.Count), nil
	})
	keyID := ""
	if h.step("principal key: import", "rolestore.ImportPrincipalKey", func() ([]Drift, error) {
		private, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		block := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(private)})
		identifier, err := rs.ImportPrincipalKey(id, rolestore.RolePrincipalKeyImport{PrivateKey: string(block)})
		keyID = identifier.ID
		return nil, err
	}) {
		h.step("principal key: list", "rolestore.GetPrincipalKeys", func() ([]Drift, error) {
			keys, err := rs.GetPrincipalKeys(id)
			if err != nil {
				return nil, err
			}
			if len(keys.Items) != 1 || keys.Items[0].ID != keyID {
				return nil, fmt.Errorf("want the imported key listed, got %+v", keys.Items)
			}
			return nonEmpty("items[0].public_key", keys.Items[0].PublicKey), nil
		})
		h.step("principal key: delete", "rolestore.DeletePrincipalKey", func() ([]Drift, error) {
			return nil, rs.DeletePrincipalKey(id, keyID)
		})
		h.step("principal key: read after delete", "rolestore.GetPrincipalKey", func() ([]Drift, error) {
			_, err := rs.GetPrincipalKey(id, keyID)
			return nil, expectGone(err)
		})
	} else {
		h.skip("principal key: list", "rolestore.GetPrincipalKeys", "import failed")
	}
	h.step("delete", "rolestore.DeleteRole", func() ([]Drift, error) {
		return nil, rs.DeleteRole(id)
	})
}
