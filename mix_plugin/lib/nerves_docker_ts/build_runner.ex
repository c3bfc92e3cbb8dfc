defmodule NervesDockerTs.BuildRunner do
  @moduledoc """
  A drop-in replacement for `Nerves.Artifact.BuildRunners.Docker`.

  In the system's `mix.exs`:

      nerves_package: [
        # ...
        build_runner: NervesDockerTs.BuildRunner,
        build_runner_config: [docker: {"Dockerfile", "my_system:0.1.0"}],
        build_runner_opts: [make_args: ["PARALLEL_JOBS=8"]]
      ]

  `mix nerves.artifact`, `mix nerves.clean` and `mix nerves.system.shell`
  work as with the upstream runner. The work is done by a Node sidecar over
  the Docker Engine API (no docker CLI needed): one container per build with
  the steps run inside it, every byte of output in `build.log`, the
  headlines shown here, the artifact written atomically.

  `build_runner_config` keys:

    * `:docker` - `{dockerfile, tag}`: the image to build in. `tag` may be
      pinned by digest (`name@sha256:...`, then it is pulled and verified);
      `dockerfile` may also be an image archive (`.tar`, `.tar.gz`), which is
      loaded. Default: nerves_system_br's image.

  `build_runner_opts` keys:

    * `:make_args` - extra arguments for `make` (list of strings)
    * `:keep_container` - keep the (stopped) build container for post-mortem debugging
    * `:downloads_volume` - keep Buildroot downloads in this named volume
      instead of binding the host's download dir
    * `:cpus` - CPUs the build container may use (`6`, `1.5`; default: no limit)
    * `:memory` - memory it may use (`"8G"`, `"512M"` or bytes; swap limited to
      the same; default: no limit). A step the kernel OOM-kills fails with
      `step_out_of_memory`.

  Environment: `NERVES_DOCKER_TS_YES=1` answers prompts with yes;
  `NERVES_DOCKER_TS_KEEP_CONTAINER=1` keeps the build container;
  `NERVES_DOCKER_TS_CPUS` / `NERVES_DOCKER_TS_MEMORY` override `:cpus` / `:memory`;
  `DOCKER_HOST` names the engine; see `NervesDockerTs.Sidecar` for the rest.
  """

  alias NervesDockerTs.{Sidecar, Spec}

  if Code.ensure_loaded?(Nerves.Artifact.BuildRunner) do
    @behaviour Nerves.Artifact.BuildRunner
  end

  @doc "Builds the package's artifact; returns `{:ok, download_path}`."
  @spec build(map(), term(), keyword()) :: {:ok, String.t()}
  def build(pkg, _toolchain, opts) do
    warn_unknown_opts(opts)
    artifact("build", pkg, opts)
  end

  @known_opts [:make_args, :keep_container, :downloads_volume, :inputs, :inputs_exclude, :ssh_volume, :cpus, :memory]

  # A misspelt option would otherwise do nothing, silently (say, a container not kept).
  defp warn_unknown_opts(opts) do
    for {key, _} <- opts, is_atom(key), key not in @known_opts do
      near = Enum.max_by(@known_opts, &String.jaro_distance(to_string(&1), to_string(key)))

      guess =
        if String.jaro_distance(to_string(near), to_string(key)) >= 0.8,
          do: " (did you mean #{inspect(near)}?)",
          else: ""

      Mix.shell().error(
        "nerves_docker_ts: build_runner_opts: #{inspect(key)} is not an option of this runner#{guess}; it is ignored. " <>
          "Known: #{Enum.map_join(@known_opts, ", ", &inspect/1)}"
      )
    end

    :ok
  end

  @doc """
  Makes the artifact archive from an existing build (`make system` and copy); returns `{:ok, path}`.

  Nerves passes the `mix nerves.artifact` switches (`:name`, `:path`, ...)
  here, not the build_runner_opts `build/3` gets: those are taken from the
  package, under the options given.
  """
  @spec archive(map(), term(), keyword()) :: {:ok, String.t()}
  def archive(pkg, _toolchain, opts), do: artifact("archive", pkg, Keyword.merge(runner_opts(pkg), opts))

  # A Nerves.Package carries {module, build_runner_opts}; a plain package map (the tasks', tests') only its config.
  defp runner_opts(%{build_runner: {_mod, opts}}) when is_list(opts), do: opts
  defp runner_opts(pkg), do: (pkg.config || [])[:build_runner_opts] || []

  # build and archive differ only in the op: both reply with the artifact's path.
  defp artifact(op, pkg, opts) do
    # The spec (id -u, id -g, the checksum: ~90 ms) is computed while the sidecar starts.
    {:ok, result} = run(op, fn -> Spec.from_package(pkg, opts) end)
    {:ok, result["path"]}
  end

  @doc "Deletes the build volume, the package's build containers and its artifact cache."
  @spec clean(map()) :: :ok
  def clean(pkg) do
    {:ok, _} = run("clean", Spec.clean_spec(pkg))
    :ok
  end

  @doc """
  Opens an interactive shell in the package's build container, as
  `mix nerves.system.shell` does: the build directory is prepared first,
  then bash runs with the Nerves prompt. Returns `:ok` when the shell exits
  with status 0, else raises "Nerves shell exited with status N".
  """
  @spec system_shell(map()) :: :ok
  def system_shell(pkg), do: NervesDockerTs.Shell.run(pkg)

  @doc """
  Runs an op (`"build"`, `"archive"`, `"clean"`) for a job spec (see
  `NervesDockerTs.Spec`, or a function that returns one: it then runs while
  the sidecar starts) on a fresh sidecar, showing its output through
  `Mix.shell()`. Returns `{:ok, result}` or raises `NervesDockerTs.Error`.
  """
  @spec run(String.t(), map() | (() -> map()), keyword()) :: {:ok, map()}
  def run(op, spec, opts \\ []) do
    # SIGTERM cancels the op (it cleans up and says so), then the VM halts with status 130.
    result = NervesDockerTs.Sigterm.cancelling(fn -> Sidecar.run(op, spec, opts) end, &interrupted(op, &1))
    # A status line of the op (say, before Ctrl-C) ends before its error or the caller's output.
    NervesDockerTs.Output.end_line()

    case result do
      {:ok, result} -> {:ok, result}
      {:error, err} -> raise err
    end
  end

  defp interrupted(op, result) do
    NervesDockerTs.Output.end_line()

    case result do
      {:error, err} -> Mix.shell().error(Exception.message(err))
      {:ok, _} -> Mix.shell().error("nerves_docker_ts: SIGTERM came as the #{op} ended; stopping")
    end
  end
end
