defmodule NervesDockerTs.Spec do
  @moduledoc """
  The job spec: the plain values the sidecar needs to build a Nerves package,
  computed from a `Nerves.Package` (or any map with `:app`, `:path`,
  `:version`, `:type` and `:config`).

  When Nerves is loaded its own functions compute the paths
  (`Nerves.Artifact.download_name/1`, `build_path/1`, `Cache.path/1`,
  `Nerves.Env.download_dir/0`, ...). Without Nerves (tests, the example, the
  CLI) the same rules are applied here.

  The spec is a public entry point: `NervesDockerTs.BuildRunner.run/3` takes
  one directly. Its fields (all strings are absolute paths unless noted):

    * `app` - the package's OTP app name
    * `pkg_path`, `version`, `defconfig` (relative to `pkg_path`)
    * `download_name` (e.g. `"my_system-portable-0.1.0-1A2B3C4"`), `ext` (`".tar.gz"`)
    * `download_dir`, `build_path` (holds `.docker_id`), `cache_path`
    * `platform_path`, `platform_version` - nerves_system_br's path and version (nil if unknown)
    * `docker` - `%{"dockerfile" => path, "tag" => image_ref}`
    * `make_args` - list of strings
    * `uid`, `gid`, `term`, `home`, `log_dir` (where build.log goes), `tty`
    * `keep_container`, `downloads_volume`, `inputs`, `inputs_exclude`, `ssh_volume`,
      `cpus`, `memory` - options from `build_runner_opts`
  """

  @compile {:no_warn_undefined, [Nerves.Artifact, Nerves.Artifact.Cache, Nerves.Env]}

  @type t :: %{optional(String.t()) => term()}

  @checksum_short 7

  @doc "Builds the spec for `build/3` and `archive/3` from a package and the build_runner_opts."
  @spec from_package(map(), keyword()) :: t()
  def from_package(pkg, opts \\ []) do
    config = pkg.config || []
    platform = platform(pkg)

    %{
      "app" => to_string(pkg.app),
      "pkg_path" => Path.expand(pkg.path),
      "version" => to_string(pkg.version),
      "defconfig" => defconfig!(pkg),
      "download_name" => download_name(pkg),
      "ext" => ext(pkg),
      "download_dir" => download_dir(),
      "build_path" => build_path(pkg),
      "cache_path" => cache_path(pkg),
      "platform_path" => platform && platform.path,
      "platform_version" => platform && platform.version,
      "docker" => docker_config!(config, platform),
      "make_args" => make_args!(opts),
      "uid" => id_of("-u"),
      "gid" => id_of("-g"),
      "term" => term(),
      "home" => System.user_home() || "",
      "log_dir" => File.cwd!(),
      "tty" => NervesDockerTs.Output.terminal?(),
      "keep_container" => keep_container?(opts),
      "downloads_volume" => Keyword.get(opts, :downloads_volume),
      # Checked by the sidecar, which names the option in its error.
      "inputs" => atom_to_string(Keyword.get(opts, :inputs)),
      "inputs_exclude" => Keyword.get(opts, :inputs_exclude, []),
      "ssh_volume" => Keyword.get(opts, :ssh_volume),
      "cpus" => Keyword.get(opts, :cpus),
      "memory" => Keyword.get(opts, :memory)
    }
  end

  @doc "The smaller spec `clean/1` needs."
  @spec clean_spec(map()) :: t()
  def clean_spec(pkg) do
    %{"app" => to_string(pkg.app), "build_path" => build_path(pkg), "cache_path" => cache_path(pkg)}
  end

  defp nerves?, do: Code.ensure_loaded?(Nerves.Artifact) and Code.ensure_loaded?(Nerves.Env)

  defp defconfig!(pkg) do
    case get_in(pkg.config, [:platform_config, :defconfig]) do
      path when is_binary(path) and path != "" ->
        path

      other ->
        Mix.raise("""
        #{pkg.app}: nerves_package platform_config: [defconfig: ...] must name the defconfig file, got #{inspect(other)}.
        For example: platform_config: [defconfig: "nerves_defconfig"]
        """)
    end
  end

  defp docker_config!(config, platform) do
    case Keyword.get(config[:build_runner_config] || [], :docker) do
      {dockerfile, tag} when is_binary(dockerfile) and is_binary(tag) ->
        %{"dockerfile" => dockerfile |> Path.relative_to_cwd() |> Path.expand(), "tag" => tag}

      nil when is_map(platform) ->
        %{
          "dockerfile" => Path.join(platform.path, "support/docker/#{platform.app}"),
          "tag" => "ghcr.io/nerves-project/#{platform.app}:#{platform.version}"
        }

      nil ->
        Mix.raise("""
        No build image is configured and the nerves_system_br platform was not found.
        Add build_runner_config: [docker: {"path/to/Dockerfile", "name:tag"}] to nerves_package, or depend on nerves_system_br.
        """)

      other ->
        Mix.raise("""
        build_runner_config[:docker] must be a {dockerfile, tag} tuple of two strings, got #{inspect(other)}.
        For example: build_runner_config: [docker: {"Dockerfile", "my_system:0.1.0"}]
        """)
    end
  end

  defp make_args!(opts) do
    case Keyword.get(opts, :make_args, []) do
      args when is_list(args) ->
        if Enum.all?(args, &is_binary/1) do
          args
        else
          Mix.raise("build_runner_opts[:make_args] must be a list of strings, got #{inspect(args)}")
        end

      other ->
        Mix.raise("build_runner_opts[:make_args] must be a list of strings, got #{inspect(other)}")
    end
  end

  defp atom_to_string(value) when is_atom(value) and not is_nil(value) and not is_boolean(value),
    do: Atom.to_string(value)

  defp atom_to_string(value), do: value

  defp keep_container?(opts) do
    Keyword.get(opts, :keep_container, false) == true or
      System.get_env("NERVES_DOCKER_TS_KEEP_CONTAINER") in ["1", "true"]
  end

  defp term do
    case System.get_env("TERM") do
      term when is_binary(term) and byte_size(term) > 0 -> term
      _ -> "xterm-256color"
    end
  end

  defp id_of(flag) do
    case System.cmd("id", [flag]) do
      {out, 0} -> out |> String.trim() |> String.to_integer()
      _ -> 0
    end
  end

  ## The platform (nerves_system_br)

  @doc false
  def platform(pkg) do
    cond do
      nerves?() and is_map(Nerves.Env.package(:nerves_system_br)) ->
        p = Nerves.Env.package(:nerves_system_br)
        %{app: p.app, path: p.path, version: to_string(p.version)}

      path = Mix.Project.deps_paths()[:nerves_system_br] ->
        %{app: :nerves_system_br, path: Path.expand(path), version: app_version(:nerves_system_br)}

      path = get_in(pkg.config, [:nerves_docker_ts, :platform_path]) ->
        %{
          app: :nerves_system_br,
          path: Path.expand(path, pkg.path),
          version: get_in(pkg.config, [:nerves_docker_ts, :platform_version])
        }

      true ->
        nil
    end
  end

  # Upstream decides the image style from the loaded application's version.
  defp app_version(app) do
    _ = Application.load(app)

    case Application.spec(app, :vsn) do
      nil -> nil
      vsn -> to_string(vsn)
    end
  end

  ## Paths, as Nerves computes them

  defp name(pkg), do: "#{pkg.app}-#{host_tuple(pkg)}-#{pkg.version}"

  defp host_tuple(%{type: :system}), do: "portable"

  defp host_tuple(_pkg) do
    arch = :erlang.system_info(:system_architecture) |> to_string() |> String.split("-")
    os = arch |> Enum.at(2, "linux") |> String.replace(~r/\d.*$/, "")
    "#{os}_#{hd(arch)}"
  end

  defp download_name(pkg) do
    if nerves?(), do: Nerves.Artifact.download_name(pkg), else: "#{name(pkg)}-#{checksum(pkg)}"
  end

  defp ext(pkg) do
    cond do
      nerves?() -> Nerves.Artifact.ext(pkg)
      Map.get(pkg, :type) == :toolchain -> ".tar.xz"
      true -> ".tar.gz"
    end
  end

  defp download_dir do
    if nerves?() do
      Nerves.Env.download_dir()
    else
      (System.get_env("NERVES_DL_DIR") || Path.join(data_dir(), "dl")) |> Path.expand()
    end
  end

  defp data_dir do
    case System.get_env("XDG_DATA_HOME") do
      dir when is_binary(dir) -> Path.join(dir, "nerves")
      nil -> Path.expand("~/.nerves")
    end
  end

  defp build_path(pkg) do
    if nerves?(),
      do: Nerves.Artifact.build_path(pkg),
      else: Path.join([Path.expand(pkg.path), ".nerves", "artifacts", name(pkg)])
  end

  defp cache_path(pkg) do
    if nerves?() do
      Nerves.Artifact.Cache.path(pkg)
    else
      base = System.get_env("NERVES_ARTIFACTS_DIR") || Path.join(data_dir(), "artifacts")
      base |> Path.join(name(pkg)) |> Path.expand()
    end
  end

  # Nerves' checksum: sha256 over the sha256 of every file named by the
  # package's checksum config (directories expanded), first 7 hex digits.
  defp checksum(pkg) do
    blob =
      (pkg.config[:checksum] || [])
      |> Enum.map(&Path.join(pkg.path, &1))
      |> Enum.flat_map(&Path.wildcard/1)
      |> Enum.flat_map(fn p -> if File.dir?(p), do: Path.wildcard(Path.join(p, "**")), else: [p] end)
      |> Enum.map(&Path.expand/1)
      |> Enum.filter(&File.regular?/1)
      |> Enum.uniq()
      |> Enum.map(&:crypto.hash(:sha256, File.read!(&1)))

    :crypto.hash(:sha256, blob) |> Base.encode16() |> binary_part(0, @checksum_short)
  end
end
