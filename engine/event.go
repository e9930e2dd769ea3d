package engine

import "time"

// EventType names what an Event reports.
type EventType string

const (
	EvPlayStart  EventType = "play_start"  // Play, Hosts
	EvNoHosts    EventType = "no_hosts"    // the play matched no host
	EvTaskStart  EventType = "task_start"  // Task, Pos, Module, Handler
	EvItemResult EventType = "item_result" // one loop item on one host
	EvHostResult EventType = "host_result" // one task on one host
	EvProgress   EventType = "progress"    // a retry or a long wait
	EvWarning    EventType = "warning"     // Msg
	EvAbort      EventType = "abort"       // the play stops: Msg says why
	EvRecap      EventType = "recap"       // Recap, Elapsed
)

// Status is the outcome of a task on a host.
type Status string

const (
	StatusOK          Status = "ok"
	StatusChanged     Status = "changed"
	StatusSkipped     Status = "skipped"
	StatusFailed      Status = "failed"
	StatusUnreachable Status = "unreachable"
)

// Event is one thing that happened. Which fields are set depends on Type; the
// JSON form (one event a line) is the machine-readable output.
type Event struct {
	Type EventType `json:"type"`
	Time time.Time `json:"time"`

	Play  string   `json:"play,omitempty"`
	Hosts []string `json:"hosts,omitempty"`

	Task    string `json:"task,omitempty"`
	Pos     string `json:"pos,omitempty"` // file:line:col of the task
	Module  string `json:"module,omitempty"`
	Handler bool   `json:"handler,omitempty"`
	// Loop marks the host line that sums up a loop after its item lines.
	Loop bool `json:"loop,omitempty"`

	Host      string `json:"host,omitempty"`
	Delegated string `json:"delegated_to,omitempty"`
	Status    Status `json:"status,omitempty"`
	Item      any    `json:"item,omitempty"` // the loop item, for item results
	Msg       string `json:"msg,omitempty"`
	RC        *int   `json:"rc,omitempty"`
	Stdout    string `json:"stdout,omitempty"`
	Stderr    string `json:"stderr,omitempty"`
	Cmd       string `json:"cmd,omitempty"`
	Ignored   bool   `json:"ignored,omitempty"` // failed, but ignore_errors
	Rescued   bool   `json:"rescued,omitempty"` // failed inside a block with rescue
	// Interrupted: the run was cancelled (Ctrl-C) while the task ran.
	Interrupted bool   `json:"interrupted,omitempty"`
	Check       bool   `json:"check,omitempty"`    // the result is a check-mode plan
	NoLog       bool   `json:"no_log,omitempty"`   // Msg, output and diffs are hidden
	Diffs       []Diff `json:"diffs,omitempty"`    // only with --diff
	Attempt     int    `json:"attempt,omitempty"`  // retries: this attempt
	Attempts    int    `json:"attempts,omitempty"` // retries: of this many
	// Result is the registered value (rc, stdout, msg, ...), for -v and JSON.
	Result map[string]any `json:"result,omitempty"`

	Recap   []HostStats `json:"recap,omitempty"`
	Elapsed float64     `json:"elapsed,omitempty"` // seconds
}

// Diff is a file change for --diff.
type Diff struct {
	Path   string `json:"path"`
	Before string `json:"before"`
	After  string `json:"after"`
	Secret bool   `json:"secret,omitempty"` // content hidden; only the fact of a change
}

// HostStats is one line of the PLAY RECAP.
type HostStats struct {
	Host        string `json:"host"`
	OK          int    `json:"ok"`
	Changed     int    `json:"changed"`
	Unreachable int    `json:"unreachable"`
	Failed      int    `json:"failed"`
	Skipped     int    `json:"skipped"`
	Rescued     int    `json:"rescued"`
	Ignored     int    `json:"ignored"`
}
