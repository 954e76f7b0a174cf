package ops

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// EnvName is the environment variable that sets a flag:
// LEAKSCOPE_ + the flag's name in upper case with '-' as '_'
// (--nats-url: LEAKSCOPE_NATS_URL).
func EnvName(flag string) string {
	return "LEAKSCOPE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// BindEnv sets every flag of cmd the command line left unset from its
// environment variable (EnvName), so a container is configured by flags
// or environment alike; the command line wins. A value the flag refuses
// is an error naming the variable.
func BindEnv(cmd *cobra.Command) error {
	var err error
	visit := func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		name := EnvName(f.Name)
		if v, ok := os.LookupEnv(name); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("environment %s=%q: %w", name, v, e)
				return
			}
			f.Changed = true
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	return err
}

// EnvHelp is the sentence --help gives about BindEnv.
const EnvHelp = `Every flag may also come from the environment: LEAKSCOPE_ and the flag's
name in upper case with '-' as '_' (--nats-url: LEAKSCOPE_NATS_URL); the
command line wins.`
