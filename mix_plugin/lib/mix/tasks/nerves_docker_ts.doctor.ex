defmodule Mix.Tasks.NervesDockerTs.Doctor do
  @shortdoc "Checks Node, the sidecar, the engine, its version, disk, image, ~/.ssh"
  @moduledoc """
  Checks what a build needs and prints, for each failed check, the command
  that fixes it: Node and the sidecar, the engine (and how it was found), its
  version against the requirement, free space in its data root, the build
  image (when run in a project with nerves_package), ~/.ssh, UID/GID.

      mix nerves_docker_ts.doctor
  """
  use Mix.Task

  @impl true
  def run(_argv) do
    case NervesDockerTs.Sidecar.start_link() do
      {:ok, sc} ->
        hello = NervesDockerTs.Sidecar.hello(sc)
        Mix.shell().info("ok   sidecar: #{hello["version"]} (protocol #{hello["protocol"]}, node #{hello["node"]})")
        image = image_of_project()

        case NervesDockerTs.Sidecar.request(sc, "doctor", %{"image" => image, "home" => System.user_home()}) do
          {:ok, checks} ->
            Enum.each(checks, &print/1)
            NervesDockerTs.Sidecar.stop(sc)

            if Enum.all?(checks, & &1["ok"]),
              do: :ok,
              else:
                Mix.raise(
                  "Some checks failed: run the `fix:` commands above, then `mix nerves_docker_ts.doctor` again."
                )

          {:error, err} ->
            Mix.raise("The doctor could not run its checks: " <> Exception.message(err))
        end

      {:error, err} ->
        Mix.shell().error("FAIL sidecar: #{Exception.message(err)}")

        Mix.raise(
          "The sidecar cannot start: fix the sidecar check above, then run `mix nerves_docker_ts.doctor` again."
        )
    end
  end

  defp print(%{"ok" => ok, "name" => name, "detail" => detail} = check) do
    Mix.shell().info("#{if ok, do: "ok  ", else: "FAIL"} #{name}: #{detail}")
    if check["fix"], do: Mix.shell().info("     fix: #{check["fix"]}")
  end

  defp image_of_project do
    with config when is_list(config) <- Mix.Project.config()[:nerves_package],
         {_, tag} <- get_in(config, [:build_runner_config, :docker]) do
      tag
    else
      _ -> nil
    end
  end
end
