// Package swarm is the port through which abra talks to a Docker Swarm: a narrow
// Cluster interface that abra owns, in terms of the Engine API's plain types.
// Adapters live in subpackages (dockerswarm over Docker's client, swarmtest an
// in-memory fake); nothing in the core imports Docker's client directly.
package swarm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

// StackLabel is the label that docker stack deploy puts on every object of a stack.
const StackLabel = "com.docker.stack.namespace"

// ErrNotFound is returned (wrapped) when a named object does not exist.
var ErrNotFound = errors.New("not found")

// ErrNotManager is returned by checks when the node is not a swarm manager.
var ErrNotManager = errors.New("this node is not a swarm manager")

// NodeInfo describes the daemon a Cluster talks to.
type NodeInfo struct {
	ServerVersion string // Engine version, e.g. 20.10.24
	APIVersion    string // negotiated API version
	SwarmState    string // inactive, pending, active, error, locked
	IsManager     bool
	NodeID        string
	Nodes         int
}

// Node roles, availabilities and states, as swarm names them.
const (
	RoleManager = "manager"
	RoleWorker  = "worker"

	// NodeActive takes new tasks; NodePause keeps its tasks but takes no new
	// ones; NodeDrain takes none, and swarm moves its tasks elsewhere.
	NodeActive = "active"
	NodePause  = "pause"
	NodeDrain  = "drain"

	// NodeReady nodes report to the managers; a NodeDown node missed its
	// heartbeats (a few 5 s periods) and swarm reschedules its replicated
	// tasks elsewhere. NodeUnknown and NodeDisconnected are swarm's other states.
	NodeReady        = "ready"
	NodeDown         = "down"
	NodeUnknown      = "unknown"
	NodeDisconnected = "disconnected"
)

// Node is a member of the swarm, as its managers see it.
type Node struct {
	ID           string
	Hostname     string
	Role         string            // RoleManager or RoleWorker
	Availability string            // NodeActive, NodePause or NodeDrain
	State        string            // NodeReady, NodeDown, NodeUnknown or NodeDisconnected
	Addr         string            // the address the node reports from (its advertise address)
	Leader       bool              // the manager leading the raft group
	Labels       map[string]string // node labels, which placement constraints read (node.labels.<key>)
}

// Usable reports whether swarm can run tasks on the node now: it is ready and
// not drained (a paused node keeps running what it has).
func (n Node) Usable() bool { return n.State == NodeReady && n.Availability != NodeDrain }

// SortNodes sorts nodes the way Cluster.Nodes returns them: by hostname, then ID.
func SortNodes(nodes []Node) {
	slices.SortFunc(nodes, func(a, b Node) int {
		return cmp.Or(strings.Compare(a.Hostname, b.Hostname), strings.Compare(a.ID, b.ID))
	})
}

// Network is a network as seen on the cluster.
type Network struct {
	ID     string
	Name   string
	Scope  string
	Labels map[string]string
}

// NetworkSpec is what is needed to create a network.
type NetworkSpec struct {
	Driver     string
	Scope      string
	Internal   bool
	Attachable bool
	IPAM       *network.IPAM
	Options    map[string]string
	Labels     map[string]string
}

// Object is a secret or a config on the cluster (a secret's value is never read back).
type Object struct {
	ID      string
	Name    string
	Labels  map[string]string
	Version swarm.Version
}

// Container is a container belonging to a stack.
type Container struct {
	ID     string
	Name   string
	State  string // running, exited, …
	Status string // human status, e.g. "Up 3 seconds (healthy)"
	Health string // healthy, unhealthy, starting, or "" without a healthcheck
	Labels map[string]string
}

// LogOptions selects service logs.
type LogOptions struct {
	Follow     bool
	Tail       string // "all" or a number
	Timestamps bool
	Since      time.Time
	// Stream picks one stream of the tasks' output: "" for both, "stdout" or "stderr".
	Stream string
}

// ExecOptions describes a command to run in a container.
type ExecOptions struct {
	Cmd    []string
	User   string
	Env    []string
	TTY    bool
	Stdin  io.Reader // nil: no input
	Stdout io.Writer
	Stderr io.Writer // unused with TTY: the terminal merges the streams
}

// Cluster is the set of swarm operations abra needs. Implementations must be safe
// for use by one goroutine at a time per call site; they do not cache state.
// Lookups of missing objects return errors wrapping ErrNotFound.
type Cluster interface {
	Info(ctx context.Context) (NodeInfo, error)
	// InitSwarm makes the node the manager of a new single-node swarm.
	InitSwarm(ctx context.Context, advertiseAddr string) error

	// Nodes lists the swarm's nodes sorted by hostname (then ID). Only a
	// manager can list them: on a worker it is an error.
	Nodes(ctx context.Context) ([]Node, error)

	Networks(ctx context.Context, stack string) ([]Network, error)
	InspectNetwork(ctx context.Context, name string) (Network, error)
	CreateNetwork(ctx context.Context, name string, spec NetworkSpec) error
	RemoveNetwork(ctx context.Context, id string) error

	Secrets(ctx context.Context, stack string) ([]Object, error)
	CreateSecret(ctx context.Context, spec swarm.SecretSpec) error
	UpdateSecret(ctx context.Context, secret Object, spec swarm.SecretSpec) error
	RemoveSecret(ctx context.Context, id string) error
	Configs(ctx context.Context, stack string) ([]Object, error)
	CreateConfig(ctx context.Context, spec swarm.ConfigSpec) error
	UpdateConfig(ctx context.Context, cfg Object, spec swarm.ConfigSpec) error
	RemoveConfig(ctx context.Context, id string) error
	// ConfigData reads a config's content (configs are not secret: abra keeps
	// its records in them). A missing config is an error wrapping ErrNotFound.
	ConfigData(ctx context.Context, id string) ([]byte, error)
	// SecretIDs and ConfigIDs map names to IDs, for the names that exist.
	SecretIDs(ctx context.Context, names []string) (map[string]string, error)
	ConfigIDs(ctx context.Context, names []string) (map[string]string, error)

	Services(ctx context.Context, stack string) ([]swarm.Service, error)
	CreateService(ctx context.Context, spec swarm.ServiceSpec, queryRegistry bool) (id string, warnings []string, err error)
	UpdateService(ctx context.Context, svc swarm.Service, spec swarm.ServiceSpec, queryRegistry bool) (warnings []string, err error)
	RemoveService(ctx context.Context, id string) error
	// RollbackService asks swarm to put the service's previous spec back.
	RollbackService(ctx context.Context, svc swarm.Service) error
	Tasks(ctx context.Context, stack string) ([]swarm.Task, error)
	Containers(ctx context.Context, stack string) ([]Container, error)
	ServiceLogs(ctx context.Context, serviceID string, opts LogOptions) (io.ReadCloser, error)

	// Exec runs a command in a running container of the node and returns its exit code.
	Exec(ctx context.Context, containerID string, o ExecOptions) (int, error)

	// CopyTo unpacks a tar stream into a directory of a container.
	CopyTo(ctx context.Context, containerID, dir string, tar io.Reader) error
	// CopyFrom returns a tar stream of a path in a container.
	CopyFrom(ctx context.Context, containerID, path string) (io.ReadCloser, error)
	// StatPath describes a path in a container (following no symlink at the
	// end); a missing path is an error wrapping ErrNotFound.
	StatPath(ctx context.Context, containerID, path string) (container.PathStat, error)

	// Volumes lists the names of the stack's volumes on the node the client talks to, sorted.
	Volumes(ctx context.Context, stack string) ([]string, error)
	RemoveVolume(ctx context.Context, name string) error
	// UnusedVolumes lists volumes no container uses, on the node the client talks to.
	UnusedVolumes(ctx context.Context) ([]string, error)
	// Prune removes stopped containers, networks of stacks without services and
	// dangling images (every unused image with AllImages). Other networks (such
	// as "proxy") are kept. With Stack set, only that stack's containers and
	// networks go; with Label set, only containers, networks and images
	// carrying that label.
	Prune(ctx context.Context, opts PruneOptions) (PruneReport, error)
}

// PruneOptions narrows or widens what Prune removes.
type PruneOptions struct {
	// Stack limits containers and networks to one stack (after its undeploy).
	Stack string
	// Label limits containers, networks and images to those carrying a label:
	// "key" (any value) or "key=value", as Docker's label filter. It is how
	// a prune is kept off objects it does not own (the contract suite on a
	// daemon other tests share).
	Label string
	// AllImages removes every image no container uses, not only dangling ones.
	AllImages bool
}

// HasLabel reports whether labels match a label filter, "key" or "key=value",
// the way Docker's label filter does.
func HasLabel(labels map[string]string, filter string) bool {
	key, value, withValue := strings.Cut(filter, "=")
	v, ok := labels[key]
	return ok && (!withValue || v == value)
}

// PruneReport says what Prune removed.
type PruneReport struct {
	Containers []string `json:"containers"`
	Networks   []string `json:"networks"`
	Images     []string `json:"images"`
	Reclaimed  uint64   `json:"space_reclaimed"`
}

// ConnectError is a failure to reach a server's Docker daemon: it names the
// server and carries the transport's own reason (ssh's last stderr line, such
// as "Connection refused" or "Host key verification failed").
type ConnectError struct {
	Server string
	Reason string
	Err    error // the full error, for --debug
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("server %s: cannot connect: %s", e.Server, e.Reason)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Describe is the shortest true account of err for a status column: a
// ConnectError's own message (server and ssh's reason) rather than the Docker
// client's wrapping around it.
func Describe(err error) string {
	var ce *ConnectError
	if errors.As(err, &ce) {
		return ce.Error()
	}
	return err.Error()
}
