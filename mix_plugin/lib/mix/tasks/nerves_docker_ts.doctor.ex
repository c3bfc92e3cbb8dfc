defmodule Mix.Tasks.NervesDockerTs.Doctor do
  @shortdoc "Checks Node, the sidecar, the engine, its version, disk, image, ~/.ssh"
  @moduledoc """
  Checks what a build needs and prints, for each failed check, the command
  that fixes it: Node and the sidecar, the engine (and how it was found), its
  version against the requirement, free space in its data root, ~/.ssh,
  UID/GID. In a project with nerves_package it checks what the next build
  will do, with the build's own code: the defconfig and the platform, and
  how the build gets its image (there, loaded from an archive, pulled, or
  built after a prompt); it fails only where that build would fail.

      mix nerves_docker_ts.doctor
  """
  use Mix.Task
  alias Mix.Tasks.NervesDockerTs.Project

  @impl true
  def run(_argv) do
    case NervesDockerTs.Sidecar.start_link() do
      {:ok, sc} ->
        hello = NervesDockerTs.Sidecar.hello(sc)
        Mix.shell().info("ok   sidecar: #{hello["version"]} (protocol #{hello["protocol"]}, node #{hello["node"]})")
        {spec, spec_ok} = spec_of_project()
        args = %{"image" => image_of_project(), "spec" => spec, "home" => System.user_home()}

        case NervesDockerTs.Sidecar.request(sc, "doctor", args) do
          {:ok, checks} ->
            Enum.each(checks, &print/1)
            NervesDockerTs.Sidecar.stop(sc)

            if spec_ok and Enum.all?(checks, & &1["ok"]),
              do: :ok,
              else:
                Mix.raise(
                  "Some checks failed: run the `fix:` commands above, then `mix nerves_docker_ts.doctor` again."
                )

          {:error, err} ->
            NervesDockerTs.Sidecar.stop(sc)
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

  # The job spec a build of this project uses ({nil, true} outside a Nerves
  # package); one that cannot be made fails here as the build would.
  defp spec_of_project do
    if is_list(Mix.Project.config()[:nerves_package]) do
      Project.start()
      pkg = Project.package!()
      {NervesDockerTs.Spec.from_package(pkg, Project.opts(pkg)), true}
    else
      {nil, true}
    end
  rescue
    e in Mix.Error ->
      Mix.shell().error("FAIL spec: #{Exception.message(e)}")
      {nil, false}
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
