// Command dist makes abra's releases (internal/dist): `make snapshot` and
// `make release` run it.
//
//	dist snapshot [--out dist] [--registry R]
//	dist release  --version V --registry R [--out dist] [--release-url URL]
//	dist image    NAME [--tag T] [--version V] [--platform linux/amd64] (--load | -o FILE)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/moby/moby/client"

	"coopcloud.tech/abra/internal/dist"
)

const usage = `usage: dist <verb> [flags]

verbs:
  snapshot [--out dist] [--registry R]
        build every archive, package and image of this checkout as version
        <next>-snapshot.<commit time>.g<commit>; push the images to R when given
  release --version V --registry R [--out dist] [--release-url URL]
        the same for a release: the tree must be clean and tagged vV at HEAD
  image NAME [--tag T] [--version V] [--platform OS/ARCH] (--load | -o FILE)
        build one image for one platform as a docker-load archive: into the
        local Docker daemon (--load), or a file (-o, - for stdout); the offline
        path onto a server without a registry

Every time inside is the commit's time (SOURCE_DATE_EPOCH overrides), so the
same commit builds the same bytes. Images: ` + "%s" + `
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stdout, usage, strings.Join(dist.ImageNames(), ", "))
		return nil
	}
	verb, args := args[0], args[1:]
	fs := flag.NewFlagSet("dist "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "dist", "the release location to write")
	registry := fs.String("registry", "", "push images to REGISTRY/<name>:<version>")
	version := fs.String("version", "", "the version (release, image)")
	releaseURL := fs.String("release-url", "", "the default release location baked into abra (abra upgrade)")
	source := fs.String("source", "https://coopcloud.tech/abra", "the repository URL for the images' org.opencontainers.image.source")
	tag := fs.String("tag", "", "image: the tag of the loaded image (default NAME:VERSION)")
	platform := fs.String("platform", "linux/"+runtime.GOARCH, "image: OS/ARCH")
	load := fs.Bool("load", false, "image: load into the Docker daemon ($DOCKER_HOST)")
	file := fs.String("o", "", "image: write the docker-load archive here (- for stdout)")
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return usageError{err}
		}
		if fs.NArg() == 0 {
			break
		}
		positional, args = append(positional, fs.Arg(0)), fs.Args()[1:]
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	opts := dist.Options{Root: root, Out: *out, Registry: *registry, ReleaseURL: *releaseURL, Source: *source, Log: stderr}
	if opts.Commit, opts.Time, err = commit(root); err != nil {
		return err
	}
	switch verb {
	case "snapshot":
		if len(positional) > 0 {
			return usageError{fmt.Errorf("snapshot takes no arguments, got %q", positional)}
		}
		if opts.Version, err = snapshotVersion(root, opts.Time, opts.Commit); err != nil {
			return err
		}
		if dirty(root) {
			fmt.Fprintln(stderr, "dist: the tree has uncommitted changes: this snapshot is not what its commit builds")
			opts.Commit += "-dirty"
		}
	case "release":
		if len(positional) > 0 {
			return usageError{fmt.Errorf("release takes no arguments, got %q", positional)}
		}
		opts.Version = strings.TrimPrefix(*version, "v")
		if opts.Version == "" || *registry == "" {
			return usageError{errors.New("release needs --version (make release VERSION=0.1.0) and --registry (REGISTRY=…)")}
		}
		if dirty(root) {
			return errors.New("the tree has uncommitted changes: commit them, then release")
		}
		if at, err := git(root, "rev-parse", "v"+opts.Version+"^{commit}"); err != nil || at != opts.Commit {
			return fmt.Errorf("tag v%s is not at HEAD (%s): git tag -a v%[1]s -m v%[1]s && git push origin v%[1]s", opts.Version, opts.Commit[:12])
		}
	case "image":
		return image(ctx, opts, positional, *version, *tag, *platform, *load, *file, stdout, stderr)
	default:
		return usageError{fmt.Errorf("unknown verb %q (see dist --help)", verb)}
	}
	res, err := dist.Build(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "dist: %s in %s\n", res.Version, filepath.Join(opts.Out, res.Version))
	for _, img := range res.Images {
		ref := img.Ref
		if ref == "" {
			ref = filepath.Join(opts.Out, res.Version, "images", img.Name) + " (not pushed: no REGISTRY)"
		}
		fmt.Fprintf(stdout, "%s@%s %s\n", img.Name, img.Digest, ref)
	}
	return nil
}

func image(ctx context.Context, opts dist.Options, args []string, version, tag, platform string, load bool, file string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return usageError{fmt.Errorf("image takes one image name (%s)", strings.Join(dist.ImageNames(), ", "))}
	}
	if load == (file != "") {
		return usageError{errors.New("image needs exactly one of --load and -o FILE")}
	}
	goos, arch, ok := strings.Cut(platform, "/")
	if !ok {
		return usageError{fmt.Errorf("--platform %q: want OS/ARCH, e.g. linux/arm64", platform)}
	}
	opts.Version = strings.TrimPrefix(version, "v")
	if opts.Version == "" {
		opts.Version = "0.0.0-dev"
	}
	if tag == "" {
		tag = args[0] + ":" + opts.Version
	}
	if !load {
		w, closeFn, err := create(file, stdout)
		if err != nil {
			return err
		}
		if err := opts.WriteDockerArchive(ctx, args[0], tag, dist.Platform{OS: goos, Arch: arch}, w); err != nil {
			closeFn()
			return err
		}
		return closeFn()
	}
	c, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer c.Close()
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(opts.WriteDockerArchive(ctx, args[0], tag, dist.Platform{OS: goos, Arch: arch}, pw))
	}()
	res, err := c.ImageLoad(ctx, pr, client.ImageLoadWithQuiet(true))
	if err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("docker load: %w", err)
	}
	defer res.Close()
	if _, err := io.Copy(io.Discard, res); err != nil {
		return fmt.Errorf("docker load: %w", err)
	}
	fmt.Fprintln(stderr, "dist: loaded", tag)
	fmt.Fprintln(stdout, tag)
	return nil
}

func create(file string, stdout io.Writer) (io.Writer, func() error, error) {
	if file == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}

// commit is HEAD's hash and time; SOURCE_DATE_EPOCH overrides the time.
func commit(root string) (string, time.Time, error) {
	hash, err := git(root, "rev-parse", "HEAD")
	if err != nil {
		return "", time.Time{}, fmt.Errorf("dist builds a git checkout: %w", err)
	}
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		if epoch, err = git(root, "log", "-1", "--format=%ct", "HEAD"); err != nil {
			return "", time.Time{}, err
		}
	}
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", epoch)
	}
	return hash, time.Unix(sec, 0).UTC(), nil
}

// snapshotVersion is the patch after the newest vX.Y.Z tag reachable from
// HEAD (0.0.1 without one), as a pre-release that sorts by commit time:
// 0.1.1-snapshot.20261206054200.g1a2b3c4d5e6f.
func snapshotVersion(root string, t time.Time, hash string) (string, error) {
	next := semver.New(0, 0, 1, "", "")
	if tag, err := git(root, "describe", "--tags", "--abbrev=0", "--match", "v[0-9]*.[0-9]*.[0-9]*"); err == nil {
		v, err := semver.StrictNewVersion(strings.TrimPrefix(tag, "v"))
		if err != nil {
			return "", fmt.Errorf("tag %s: %w", tag, err)
		}
		n := v.IncPatch()
		next = &n
	}
	return fmt.Sprintf("%d.%d.%d-snapshot.%s.g%s", next.Major(), next.Minor(), next.Patch(), t.Format("20060102150405"), hash[:12]), nil
}

func dirty(root string) bool {
	out, err := git(root, "status", "--porcelain", "--untracked-files=no")
	return err != nil || out != ""
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), strings.TrimSpace(string(ee.Stderr)))
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}
