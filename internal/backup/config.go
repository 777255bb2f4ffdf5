package backup

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config is the backup service's configuration, read from its environment.
//
//	RESTIC_REPOSITORY       the repository: a path, sftp:user@host:/path, s3:…, rest:… (restic reads it)
//	RESTIC_PASSWORD_FILE    default /run/secrets/restic_password (the swarm secret) unless RESTIC_PASSWORD is set
//	AWS_*, RESTIC_REST_*    backend credentials, passed to restic as they are
//	CRON_SCHEDULE           when the daemon backs up every app (default "30 3 * * *")
//	KEEP_DAILY/WEEKLY/MONTHLY  retention after each scheduled run (default 7/4/6; all 0: keep everything)
//	VERIFY_AFTER_BACKUP     true: verify each scheduled snapshot
//	VERIFY_READ_DATA        restic check data reading on verify: "", "all" or a subset like "5%"
//	PUSH_URL_START/SUCCESS/FAIL, PUSH_METHOD (GET or POST)
//	MIN_SIZE_RATIO          a dump smaller than this share of the previous one fails (default 0.5; -1 disables)
//	CONTAINER_WAIT          how long to wait for a running container to run a hook in (default 30s)
//	VOLUME_ROOT, STATE_DIR, VERIFY_DIR, RESTIC_BINARY
type Config struct {
	Schedule       string
	Keep           Retention
	VerifyAfter    bool
	VerifyReadData string
	Push           Notifier
	MinSizeRatio   float64
	ContainerWait  time.Duration
	VolumeRoot     string
	StateDir       string
	VerifyDir      string
	ResticBinary   string
	ResticEnv      []string // extra environment for restic
}

// ConfigFromEnv reads the configuration through getenv (os.Getenv).
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Schedule:       or(getenv("CRON_SCHEDULE"), "30 3 * * *"),
		VerifyReadData: getenv("VERIFY_READ_DATA"),
		Push: Notifier{Start: getenv("PUSH_URL_START"), Success: getenv("PUSH_URL_SUCCESS"), Fail: getenv("PUSH_URL_FAIL"),
			Method: or(getenv("PUSH_METHOD"), "GET")},
		VolumeRoot:   or(getenv("VOLUME_ROOT"), DefaultVolumeRoot),
		StateDir:     or(getenv("STATE_DIR"), DefaultStateDir),
		VerifyDir:    getenv("VERIFY_DIR"),
		ResticBinary: or(getenv("RESTIC_BINARY"), "restic"),
	}
	var err error
	ints := []struct {
		name string
		def  int
		dst  *int
	}{{"KEEP_DAILY", 7, &c.Keep.Daily}, {"KEEP_WEEKLY", 4, &c.Keep.Weekly}, {"KEEP_MONTHLY", 6, &c.Keep.Monthly}}
	for _, i := range ints {
		*i.dst = i.def
		if v := strings.TrimSpace(getenv(i.name)); v != "" {
			if *i.dst, err = strconv.Atoi(v); err != nil || *i.dst < 0 {
				return c, fmt.Errorf("%s=%q: want a whole number ≥ 0", i.name, v)
			}
		}
	}
	if v := strings.TrimSpace(getenv("VERIFY_AFTER_BACKUP")); v != "" {
		if c.VerifyAfter, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("VERIFY_AFTER_BACKUP=%q: want true or false", v)
		}
	}
	c.MinSizeRatio = 0.5
	if v := strings.TrimSpace(getenv("MIN_SIZE_RATIO")); v != "" {
		if c.MinSizeRatio, err = strconv.ParseFloat(v, 64); err != nil || c.MinSizeRatio > 1 || c.MinSizeRatio == 0 {
			return c, fmt.Errorf("MIN_SIZE_RATIO=%q: want a number in (0, 1], or -1 to turn the check off", v)
		}
	}
	c.ContainerWait = 30 * time.Second
	if v := strings.TrimSpace(getenv("CONTAINER_WAIT")); v != "" {
		if c.ContainerWait, err = time.ParseDuration(v); err != nil {
			return c, fmt.Errorf("CONTAINER_WAIT=%q: want a duration like 30s", v)
		}
	}
	if getenv("RESTIC_PASSWORD") == "" && getenv("RESTIC_PASSWORD_FILE") == "" && getenv("RESTIC_PASSWORD_COMMAND") == "" {
		c.ResticEnv = append(c.ResticEnv, "RESTIC_PASSWORD_FILE=/run/secrets/restic_password")
	}
	if getenv("RESTIC_REPOSITORY") == "" && getenv("RESTIC_REPOSITORY_FILE") == "" {
		c.ResticEnv = append(c.ResticEnv, "RESTIC_REPOSITORY=/backups/restic")
	}
	return c, nil
}

// NewBot builds a Bot from the configuration.
func (c Config) NewBot() *Bot {
	push := c.Push
	return &Bot{
		Restic:         &Restic{Runner: ExecRunner{Binary: c.ResticBinary, Env: c.ResticEnv}},
		Notifier:       &push,
		VolumeRoot:     c.VolumeRoot,
		StateDir:       c.StateDir,
		ScratchDir:     c.VerifyDir,
		MinSizeRatio:   c.MinSizeRatio,
		ContainerWait:  c.ContainerWait,
		VerifyReadData: c.VerifyReadData,
	}
}
