package main

import (
	"fmt"

	"github.com/SSHcom/privx-sdk-go/v2/api/filters"
	"github.com/SSHcom/privx-sdk-go/v2/api/rolestore"
	"github.com/SSHcom/privx-sdk-go/v2/api/userstore"
)

func localUserFields(want, got *userstore.LocalUser) []Drift {
	return fields(
		"username", want.Principal, got.Principal,
		"full_name", want.FullName, got.FullName,
		"email", want.Email, got.Email,
		"first_name", want.FirstName, got.FirstName,
		"last_name", want.LastName, got.LastName,
		"job_title", want.JobTitle, got.JobTitle,
		"department", want.Department, got.Department,
		"company", want.Company, got.Company,
		"telephone", want.Telephone, got.Telephone,
		"locale", want.Locale, got.Locale,
		"unix_account", want.UnixAccount, got.UnixAccount,
		"windows_account", want.WindowsAccount, got.WindowsAccount,
		"password_change_required", want.PasswordChangeRequired, got.PasswordChangeRequired,
		"tags", want.Tags, got.Tags,
	)
}

func (h *Harness) createUser(us *userstore.UserStore, step string, user *userstore.LocalUser) string {
	id := ""
	h.step(step, "userstore.CreateUser", func() ([]Drift, error) {
		identifier, err := us.CreateUser(user)
		id = identifier.ID
		if err == nil && id == "" {
			return nil, fmt.Errorf("CreateUser returned no id")
		}
		return nil, err
	})
	return id
}

func localUserScenario(h *Harness) {
	us := userstore.New(h.conn)
	name := unique("compat-user")
	user := userstore.LocalUser{
		Principal:              name,
		FullName:               "Compat User",
		Email:                  name + "@example.com",
		FirstName:              "Compat",
		LastName:               "User",
		JobTitle:               "Tester",
		Department:             "QA",
		Company:                "Example",
		Telephone:              "+358 40 000 0000",
		Locale:                 "en",
		UnixAccount:            "compat",
		WindowsAccount:         "compat",
		PasswordChangeRequired: false,
		Tags:                   []string{"compat", "sdk"},
		Password:               userstore.LocalUserPassword{Password: "Initial-Passw0rd-compat!"},
	}
	id := h.createUser(us, "create", &user)
	if id == "" {
		h.skip("read", "userstore.GetUser", "create failed")
		return
	}
	h.step("read", "userstore.GetUser", func() ([]Drift, error) {
		got, err := us.GetUser(id)
		if err != nil {
			return nil, err
		}
		return append(localUserFields(&user, got), fields("id", id, got.ID)...), nil
	})
	updated := userstore.LocalUser{
		ID:                     id,
		Principal:              name,
		FullName:               "Compat User Renamed",
		Email:                  "renamed-" + name + "@example.com",
		FirstName:              "Compat2",
		LastName:               "User2",
		JobTitle:               "Lead",
		Department:             "R&D",
		Company:                "Example Oy",
		Telephone:              "+358 40 000 0001",
		Locale:                 "fi",
		UnixAccount:            "compat2",
		WindowsAccount:         "compat2",
		PasswordChangeRequired: true,
		Tags:                   []string{"compat"},
	}
	h.step("update", "userstore.UpdateUser", func() ([]Drift, error) {
		return nil, us.UpdateUser(id, &updated)
	})
	h.step("read after update", "userstore.GetUser", func() ([]Drift, error) {
		got, err := us.GetUser(id)
		if err != nil {
			return nil, err
		}
		return localUserFields(&updated, got), nil
	})
	localUserExtras(h, us, id, name)
	h.step("delete", "userstore.DeleteUser", func() ([]Drift, error) {
		return nil, us.DeleteUser(id)
	})
	h.step("read after delete", "userstore.GetUser", func() ([]Drift, error) {
		_, err := us.GetUser(id)
		return nil, expectGone(err)
	})
}

// localUserExtras goes beyond the provider's calls: the list filtered by username, and roles
// assigned the PrivX way (role store), read back through the role store's user and search.
func localUserExtras(h *Harness, us *userstore.UserStore, id, name string) {
	h.step("extra: list by username", "userstore.GetUsers", func() ([]Drift, error) {
		users, err := us.GetUsers(filters.SetCustomParams("username", name), filters.Paging(0, 10))
		if err != nil {
			return nil, err
		}
		ids := []string{}
		for _, user := range users.Items {
			ids = append(ids, user.ID)
		}
		return fields("count", 1, users.Count, "items[].id", []string{id}, ids), nil
	})
	rs := rolestore.New(h.conn)
	userRole := rolestore.Role{}
	h.step("extra: setup: find privx-user", "rolestore.GetRoles", func() ([]Drift, error) {
		roles, err := rs.GetRoles()
		if err != nil {
			return nil, err
		}
		for _, role := range roles.Items {
			if role.Name == "privx-user" {
				userRole = role
				return nil, nil
			}
		}
		return nil, fmt.Errorf("no role named privx-user listed")
	})
	h.step("extra: set roles", "rolestore.UpdateUserRoles", func() ([]Drift, error) {
		return nil, rs.UpdateUserRoles(id, []rolestore.Role{userRole})
	})
	h.step("extra: read roles", "rolestore.GetUserRoles", func() ([]Drift, error) {
		roles, err := rs.GetUserRoles(id)
		if err != nil {
			return nil, err
		}
		ids := []string{}
		for _, role := range roles.Items {
			ids = append(ids, role.ID)
		}
		return fields("roles[].id", []string{userRole.ID}, ids), nil
	})
	h.step("extra: read role-store user", "rolestore.GetUser", func() ([]Drift, error) {
		user, err := rs.GetUser(id)
		if err != nil {
			return nil, err
		}
		ids := []string{}
		for _, role := range user.Roles {
			ids = append(ids, role.ID)
		}
		return fields("principal", name, user.Principal, "roles[].id", []string{userRole.ID}, ids), nil
	})
	h.step("extra: search users", "rolestore.SearchUsers", func() ([]Drift, error) {
		users, err := rs.SearchUsers(rolestore.UserSearch{Keywords: name}, filters.Paging(0, 10))
		if err != nil {
			return nil, err
		}
		ids := []string{}
		for _, user := range users.Items {
			ids = append(ids, user.ID)
		}
		return fields("items[].id", []string{id}, ids), nil
	})
	h.step("extra: remove roles", "rolestore.UpdateUserRoles", func() ([]Drift, error) {
		return nil, rs.UpdateUserRoles(id, []rolestore.Role{})
	})
}

func localUserPasswordScenario(h *Harness) {
	us := userstore.New(h.conn)
	name := unique("compat-pw")
	id := h.createUser(us, "setup: create user", &userstore.LocalUser{Principal: name, FullName: "Compat Password"})
	if id == "" {
		h.skip("create", "userstore.UpdateUserPassword", "setup failed")
		return
	}
	h.step("create", "userstore.UpdateUserPassword", func() ([]Drift, error) {
		return nil, us.UpdateUserPassword(id, userstore.LocalUserPassword{Password: "First-Passw0rd-compat!"})
	})
	h.step("update", "userstore.UpdateUserPassword", func() ([]Drift, error) {
		return nil, us.UpdateUserPassword(id, userstore.LocalUserPassword{Password: "Second-Passw0rd-compat!"})
	})
	// The resource's delete is a no-op; deleting the user cleans up.
	h.step("cleanup: delete user", "userstore.DeleteUser", func() ([]Drift, error) {
		return nil, us.DeleteUser(id)
	})
}

func roleIDs(roles []rolestore.RoleHandle) []string {
	ids := []string{}
	for _, role := range roles {
		ids = append(ids, role.ID)
	}
	return ids
}

func apiClientFields(want, got *userstore.APIClient) []Drift {
	drift := fields("name", want.Name, got.Name, "roles[].id", roleIDs(want.Roles), roleIDs(got.Roles))
	drift = append(drift, nonEmpty("secret", got.Secret)...)
	drift = append(drift, nonEmpty("oauth_client_id", got.OAuthClientID)...)
	return append(drift, nonEmpty("oauth_client_secret", got.OAuthClientSecret)...)
}

func (h *Harness) createAPIClient(us *userstore.UserStore, step string, create *userstore.APIClientCreate) string {
	id := ""
	h.step(step, "userstore.CreateAPIClient", func() ([]Drift, error) {
		identifier, err := us.CreateAPIClient(create)
		id = identifier.ID
		if err == nil && id == "" {
			return nil, fmt.Errorf("CreateAPIClient returned no id")
		}
		return nil, err
	})
	return id
}

func apiClientScenario(h *Harness) {
	us := userstore.New(h.conn)
	admin := h.adminRole()
	create := userstore.APIClientCreate{Name: unique("compat-api-client"), Roles: []rolestore.RoleHandle{{ID: admin.ID}}}
	id := h.createAPIClient(us, "create", &create)
	if id == "" {
		h.skip("read", "userstore.GetAPIClient", "create failed")
		return
	}
	var current *userstore.APIClient
	h.step("read", "userstore.GetAPIClient", func() ([]Drift, error) {
		got, err := us.GetAPIClient(id)
		if err != nil {
			return nil, err
		}
		current = got
		return append(apiClientFields(&userstore.APIClient{Name: create.Name, Roles: create.Roles}, got), fields("id", id, got.ID)...), nil
	})
	if current == nil {
		current = &userstore.APIClient{}
	}
	// The provider sends the whole object from its state, secrets included.
	updated := userstore.APIClient{
		ID:                id,
		Name:              create.Name + "-renamed",
		Secret:            current.Secret,
		OAuthClientID:     current.OAuthClientID,
		OAuthClientSecret: current.OAuthClientSecret,
		Roles:             []rolestore.RoleHandle{{ID: admin.ID}},
	}
	h.step("update", "userstore.UpdateAPIClient", func() ([]Drift, error) {
		return nil, us.UpdateAPIClient(id, &updated)
	})
	h.step("read after update", "userstore.GetAPIClient", func() ([]Drift, error) {
		got, err := us.GetAPIClient(id)
		if err != nil {
			return nil, err
		}
		return append(apiClientFields(&updated, got), fields("secret", current.Secret, got.Secret, "oauth_client_id", current.OAuthClientID, got.OAuthClientID)...), nil
	})
	h.step("delete", "userstore.DeleteAPIClient", func() ([]Drift, error) {
		return nil, us.DeleteAPIClient(id)
	})
	h.step("read after delete", "userstore.GetAPIClient", func() ([]Drift, error) {
		_, err := us.GetAPIClient(id)
		return nil, expectGone(err)
	})
}

func apiClientDataScenario(h *Harness) {
	us := userstore.New(h.conn)
	admin := h.adminRole()
	create := userstore.APIClientCreate{Name: unique("compat-api-client-ds"), Roles: []rolestore.RoleHandle{{ID: admin.ID}}}
	id := h.createAPIClient(us, "setup: create api client", &create)
	if id == "" {
		h.skip("read", "userstore.GetAPIClient", "setup failed")
		return
	}
	h.step("read", "userstore.GetAPIClient", func() ([]Drift, error) {
		got, err := us.GetAPIClient(id)
		if err != nil {
			return nil, err
		}
		drift := apiClientFields(&userstore.APIClient{Name: create.Name, Roles: create.Roles}, got)
		drift = append(drift, nonEmpty("created", got.Created)...)
		return append(drift, nonEmpty("author", got.Author)...), nil
	})
	h.step("search by name", "userstore.SearchAPIClients", func() ([]Drift, error) {
		result, err := us.SearchAPIClients(&userstore.APIClientSearch{Keywords: create.Name, SortKey: "name", SortDir: "asc"})
		if err != nil {
			return nil, err
		}
		if len(result.Items) != 1 || result.Count != 1 {
			return nil, fmt.Errorf("searching %q: want 1 client, got %d (count %d)", create.Name, len(result.Items), result.Count)
		}
		return fields("id", id, result.Items[0].ID), nil
	})
	h.step("cleanup: delete api client", "userstore.DeleteAPIClient", func() ([]Drift, error) {
		return nil, us.DeleteAPIClient(id)
	})
}
