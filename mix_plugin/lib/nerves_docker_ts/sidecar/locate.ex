defmodule NervesDockerTs.Sidecar.Locate do
  @moduledoc false
  # Where the sidecar comes from: the `node` executable and the entry script.
  # The entry is, in this order: NERVES_DOCKER_TS_SIDECAR (or the :sidecar
  # option); the plugin's own priv/sidecar.mjs, the bundle it ships (its
  # entry; its chunks in priv/sidecar/; committed, made by `npm run build`;
  # what a git, sparse git or Hex dependency has); priv/sidecar.mjs of the nerves-docker-ts checkout the
  # plugin's source belongs to. A checkout used as a path dependency whose
  # bundles are missing is built once, on first use, unless
  # NERVES_DOCKER_TS_NO_AUTOBUILD=1.

  alias NervesDockerTs.Error

  @min_node_major 20
  # This file is mix_plugin/lib/nerves_docker_ts/sidecar/locate.ex of the package.
  @package_root Path.expand("../../../..", __DIR__)
  @plugin_priv Path.expand("../../../priv", __DIR__)

  @doc "The Node major version the sidecar needs."
  def min_node_major, do: @min_node_major

  @doc "The package root this plugin belongs to (holds package.json and, once built, priv/)."
  @spec package_root() :: Path.t()
  def package_root, do: @package_root

  @doc "The checkout's sidecar entry (`npm run build`'s priv/), used when the plugin ships none."
  @spec default_entry(Path.t()) :: Path.t()
  def default_entry(root \\ @package_root), do: Path.join(root, "priv/sidecar.mjs")

  @doc """
  The entry of the sidecar the plugin ships in its own priv/ (its chunks
  are in priv/sidecar/ next to it): the application's priv dir when it is
  loaded (where Mix put the dependency), else the one next to this source.
  """
  @spec shipped_entry() :: Path.t()
  def shipped_entry do
    case :code.priv_dir(:nerves_docker_ts) do
      dir when is_list(dir) -> Path.join(List.to_string(dir), "sidecar.mjs")
      {:error, _} -> Path.join(@plugin_priv, "sidecar.mjs")
    end
  end

  # The shipped bundle is whole: its entry and the folder of the chunks the entry imports.
  defp shipped?(entry), do: File.regular?(entry) and File.dir?(Path.rootname(entry))

  @doc "Returns `{:ok, path}` of the `node` executable, or an error saying how to get one."
  @spec node(keyword()) :: {:ok, Path.t()} | {:error, Error.t()}
  def node(opts) do
    explicit = Keyword.get(opts, :node) || System.get_env("NERVES_DOCKER_TS_NODE")

    cond do
      is_binary(explicit) and explicit != "" ->
        case System.find_executable(explicit) do
          nil ->
            {:error,
             %Error{
               code: "node_not_found",
               reason: "NERVES_DOCKER_TS_NODE is #{inspect(explicit)}, which is not an executable",
               hint:
                 "Point NERVES_DOCKER_TS_NODE at Node #{@min_node_major}+ (for example `$(command -v node)`), or unset it."
             }}

          path ->
            {:ok, path}
        end

      path = System.find_executable("node") ->
        {:ok, path}

      true ->
        {:error,
         %Error{
           code: "node_not_found",
           reason:
             "Node.js was not found on PATH; nerves-docker-ts runs its sidecar with Node #{@min_node_major} or newer",
           hint:
             "Install Node #{@min_node_major}+ (https://nodejs.org or your package manager), or set NERVES_DOCKER_TS_NODE to its path."
         }}
    end
  end

  @doc """
  Returns `{:ok, argv}`: what node runs (the entry script and its arguments).
  `:package_root` (for tests) stands for the package root; its shipped
  sidecar is then the one in its mix_plugin/priv/.
  """
  @spec entry(keyword()) :: {:ok, [Path.t()]} | {:error, Error.t()}
  def entry(opts) do
    {root, shipped} =
      case Keyword.fetch(opts, :package_root) do
        {:ok, root} -> {root, Path.join(root, "mix_plugin/priv/sidecar.mjs")}
        :error -> {@package_root, shipped_entry()}
      end

    case Keyword.get(opts, :sidecar) || System.get_env("NERVES_DOCKER_TS_SIDECAR") do
      explicit when is_binary(explicit) and explicit != "" -> explicit_entry(Path.expand(explicit))
      _ -> if shipped?(shipped), do: {:ok, [shipped]}, else: built_entry(root)
    end
  end

  defp explicit_entry(path) do
    root = path |> Path.dirname() |> Path.dirname()

    cond do
      File.regular?(path) ->
        {:ok, [path]}

      # priv/sidecar.mjs of a checkout that is not built: the same error as the default path's.
      Path.basename(path) == "sidecar.mjs" and Path.basename(Path.dirname(path)) == "priv" and checkout?(root) ->
        {:error, not_built(root, path)}

      true ->
        explicit_missing(path)
    end
  end

  defp explicit_missing(path) do
    what =
      case File.stat(path) do
        {:ok, %File.Stat{type: :directory}} -> "a directory, not the sidecar's entry file"
        {:ok, %File.Stat{type: type}} -> "not a regular file (#{type})"
        {:error, _} -> "which does not exist"
      end

    {:error,
     %Error{
       code: "sidecar_missing",
       reason: "NERVES_DOCKER_TS_SIDECAR (or :sidecar) names #{path}, #{what}",
       hint: "Point it at priv/sidecar.mjs of a built nerves-docker-ts checkout or npm package, or unset it."
     }}
  end

  defp built_entry(root) do
    entry = default_entry(root)

    cond do
      File.regular?(entry) -> {:ok, [entry]}
      build_once(root) == :ok and File.regular?(entry) -> {:ok, [entry]}
      true -> {:error, not_built(root, entry)}
    end
  end

  defp not_built(root, entry) do
    hint =
      if checkout?(root) do
        "Build it: `cd #{root} && npm install && npm run build`, or set NERVES_DOCKER_TS_SIDECAR to a built priv/sidecar.mjs."
      else
        # The plugin without the bundle it ships (a copy that lost it), and no checkout around it.
        "This copy of the plugin lacks the sidecar it ships (priv/sidecar.mjs and priv/sidecar/): fetch it again " <>
          "(`mix deps.clean nerves_docker_ts && mix deps.get`). Or install the npm package " <>
          "(`npm install -g nerves-docker-ts`) and set NERVES_DOCKER_TS_SIDECAR=\"$(npm root -g)/nerves-docker-ts/priv/sidecar.mjs\", " <>
          "or use a nerves-docker-ts checkout as a path dependency."
      end

    %Error{
      code: "sidecar_not_built",
      reason: "the nerves-docker-ts sidecar is not built: #{entry} is missing",
      hint: hint
    }
  end

  defp checkout?(root), do: File.regular?(Path.join(root, "package.json")) and File.dir?(Path.join(root, "src"))

  # A checkout used as a path dependency: build the sidecar once, on first use.
  defp build_once(root) do
    npm = System.find_executable("npm")

    if npm && checkout?(root) && System.get_env("NERVES_DOCKER_TS_NO_AUTOBUILD") != "1" do
      Mix.shell().info("nerves_docker_ts: building the sidecar in #{root} (npm install && npm run build), once")

      with {_, 0} <-
             System.cmd(npm, ["install", "--no-audit", "--no-fund", "--loglevel=error"],
               cd: root,
               stderr_to_stdout: true
             ),
           {_, 0} <- System.cmd(npm, ["run", "--silent", "build"], cd: root, stderr_to_stdout: true) do
        :ok
      else
        {out, status} ->
          Mix.shell().error("nerves_docker_ts: building the sidecar failed (status #{status}):\n#{out}")
          :error
      end
    else
      :error
    end
  end
end
