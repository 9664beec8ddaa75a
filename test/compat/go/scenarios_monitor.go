package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/SSHcom/privx-sdk-go/v2/api/authorizer"
	"github.com/SSHcom/privx-sdk-go/v2/api/filters"
	"github.com/SSHcom/privx-sdk-go/v2/api/monitor"
)

// auditEventFields reports every AuditEvent field the SDK declares that the server left empty.
func auditEventFields(event monitor.AuditEvent) []Drift {
	var drift []Drift
	drift = append(drift, nonEmpty("service_id", event.ServiceID)...)
	drift = append(drift, nonEmpty("service_name", event.ServiceName)...)
	drift = append(drift, nonEmpty("event_id", event.EventID)...)
	drift = append(drift, nonEmpty("event_name", event.EventName)...)
	drift = append(drift, nonEmpty("created", event.Created)...)
	if len(event.Message) == 0 {
		drift = append(drift, Drift{Field: "message", Wrote: "(set by the server)", Read: event.Message})
	}
	return drift
}

// monitorScenario makes every call of the SDK's monitor package: status, audit events (list,
// paging and order, search, codes), components, instance status, server time, and termination
// (which privgate refuses with 405 NOT_ALLOWED: nodes are stopped by their service manager).
func monitorScenario(h *Harness) {
	mon := monitor.New(h.conn)
	az := authorizer.New(h.conn)
	// An event to look for: creating an access group is audited under the API client.
	groupName := unique("compat-monitor-group")
	groupID := ""
	h.step("setup: create access group", "authorizer.CreateAccessGroup", func() ([]Drift, error) {
		identifier, err := az.CreateAccessGroup(&authorizer.AccessGroup{Name: groupName})
		groupID = identifier.ID
		return nil, err
	})

	h.step("status", "monitor.Status", func() ([]Drift, error) {
		status, err := mon.Status()
		if err != nil {
			return nil, err
		}
		return append(fields("status", "ok", status.Status), nonEmpty("version", status.Version)...), nil
	})

	h.step("audit events", "monitor.GetAuditEvents", func() ([]Drift, error) {
		events, err := mon.GetAuditEvents()
		if err != nil {
			return nil, err
		}
		if len(events.Items) == 0 || events.Count < len(events.Items) {
			return nil, fmt.Errorf("want events with count >= items, got count %d and %d items", events.Count, len(events.Items))
		}
		var drift []Drift
		for _, event := range events.Items {
			drift = append(drift, auditEventFields(event)...)
		}
		return drift, nil
	})

	h.step("audit events paged, oldest first", "monitor.GetAuditEvents", func() ([]Drift, error) {
		events, err := mon.GetAuditEvents(filters.Paging(0, 2), filters.SortAsc("created"))
		if err != nil {
			return nil, err
		}
		if len(events.Items) > 2 {
			return nil, fmt.Errorf("limit 2 answered %d items", len(events.Items))
		}
		if len(events.Items) == 2 && events.Items[0].Created > events.Items[1].Created {
			return nil, fmt.Errorf("sortdir ASC answered %s before %s", events.Items[0].Created, events.Items[1].Created)
		}
		return nil, nil
	})

	found := monitor.AuditEvent{}
	h.step("search by access group", "monitor.SearchAuditEvents", func() ([]Drift, error) {
		events, err := mon.SearchAuditEvents(&monitor.AuditEventSearch{AccessGroupID: groupID})
		if err != nil {
			return nil, err
		}
		if len(events.Items) != 1 {
			return nil, fmt.Errorf("want the one event about access group %s, got %d", groupID, len(events.Items))
		}
		found = events.Items[0]
		drift := append(auditEventFields(found), fields(
			"event_name", "ACCESS_GROUP_CREATED", found.EventName,
			"service_name", "authorizer", found.ServiceName,
			"message.object_id", groupID, found.Message["object_id"],
		)...)
		if !strings.Contains(found.Message["after"], groupName) {
			drift = append(drift, Drift{Field: "message.after", Wrote: groupName, Read: found.Message["after"]})
		}
		return drift, nil
	})

	h.step("search with every field empty", "monitor.SearchAuditEvents", func() ([]Drift, error) {
		events, err := mon.SearchAuditEvents(&monitor.AuditEventSearch{}, filters.Limit(5))
		if err != nil {
			return nil, err
		}
		if len(events.Items) == 0 || len(events.Items) > 5 {
			return nil, fmt.Errorf("want 1 to 5 events, got %d", len(events.Items))
		}
		return nil, nil
	})

	h.step("search by keywords and time range", "monitor.SearchAuditEvents", func() ([]Drift, error) {
		since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		events, err := mon.SearchAuditEvents(&monitor.AuditEventSearch{Keywords: groupName, StartTime: since})
		if err != nil {
			return nil, err
		}
		if len(events.Items) != 1 {
			return nil, fmt.Errorf("want the one event naming %s, got %d", groupName, len(events.Items))
		}
		return nil, nil
	})

	h.step("event codes", "monitor.GetAuditEventCodes", func() ([]Drift, error) {
		codes, err := mon.GetAuditEventCodes()
		if err != nil {
			return nil, err
		}
		id, err := strconv.Atoi(found.EventID)
		if err != nil {
			return nil, fmt.Errorf("event_id %q is not a number", found.EventID)
		}
		info, ok := (*codes)[id]
		if !ok {
			return nil, fmt.Errorf("no code %d among %d codes", id, len(*codes))
		}
		return append(fields("event_id", id, info.EventID, "event_name", found.EventName, info.EventName), nonEmpty("event_desc", info.EventDesc)...), nil
	})

	hostname := ""
	h.step("components", "monitor.GetComponentsStatus", func() ([]Drift, error) {
		raw, err := mon.GetComponentsStatus()
		if err != nil {
			return nil, err
		}
		var list struct {
			Count int `json:"count"`
			Items []struct {
				Hostname string `json:"hostname"`
				ThisNode bool   `json:"this_node"`
			} `json:"items"`
		}
		if err := json.Unmarshal(*raw, &list); err != nil {
			return nil, err
		}
		for _, item := range list.Items {
			if item.ThisNode {
				hostname = item.Hostname
			}
		}
		return nonEmpty("items[this_node].hostname", hostname), nil
	})

	h.step("component by hostname", "monitor.GetComponentStatus", func() ([]Drift, error) {
		raw, err := mon.GetComponentStatus(hostname)
		if err != nil {
			return nil, err
		}
		var component struct {
			Hostname string `json:"hostname"`
			Status   string `json:"status"`
		}
		if err := json.Unmarshal(*raw, &component); err != nil {
			return nil, err
		}
		return fields("hostname", hostname, component.Hostname, "status", "ok", component.Status), nil
	})

	h.step("instance status", "monitor.GetInstanceStatus", func() ([]Drift, error) {
		raw, err := mon.GetInstanceStatus()
		if err != nil {
			return nil, err
		}
		var status struct {
			Status   string `json:"status"`
			Version  string `json:"version"`
			Database struct {
				Reachable bool `json:"reachable"`
			} `json:"database"`
		}
		if err := json.Unmarshal(*raw, &status); err != nil {
			return nil, err
		}
		return append(fields("status", "ok", status.Status, "database.reachable", true, status.Database.Reachable), nonEmpty("version", status.Version)...), nil
	})

	h.step("server time", "monitor.GetServerTime", func() ([]Drift, error) {
		clock, err := mon.GetServerTime()
		if err != nil {
			return nil, err
		}
		at, err := time.Parse(time.RFC3339, clock.TimeUTC)
		if err != nil {
			return nil, fmt.Errorf("time_utc %q: %v", clock.TimeUTC, err)
		}
		if skew := time.Since(at); skew > time.Minute || skew < -time.Minute {
			return nil, fmt.Errorf("server time %s is %s away", clock.TimeUTC, skew)
		}
		return nil, nil
	})

	h.step("terminate instances (refused)", "monitor.TerminateInstances", func() ([]Drift, error) {
		err := mon.TerminateInstances()
		if err == nil {
			return nil, fmt.Errorf("instance/exit answered success")
		}
		if !strings.Contains(err.Error(), "NOT_ALLOWED") {
			return nil, fmt.Errorf("want NOT_ALLOWED, got: %v", err)
		}
		return nil, nil
	})

	h.step("cleanup: delete access group", "authorizer.DeleteAccessGroup", func() ([]Drift, error) {
		return nil, az.DeleteAccessGroup(groupID)
	})
}
