defmodule Mix.Tasks.NervesDockerTs.Shell do
  @shortdoc "Opens a shell in the project's Nerves build container"
  @moduledoc """
  Opens an interactive bash in the build container of the current project's
  `nerves_package`, as `mix nerves.system.shell` does with
  `NervesDockerTs.BuildRunner`, without needing Nerves. The build directory
  is prepared first; leave with ctrl+d or `exit`. A non-zero exit status
  raises "Nerves shell exited with status N".

      mix nerves_docker_ts.shell
      mix nerves_docker_ts.shell -- make savedefconfig

  With `-- CMD ARGS...` it runs that one command instead (on the terminal
  when there is one, else printing its output).
  """
  use Mix.Task
  alias Mix.Tasks.NervesDockerTs.Project

  @impl true
  def run(argv) do
    cmd =
      case argv do
        ["--" | rest] when rest != [] -> rest
        [] -> nil
        ["--"] -> nil
        rest -> rest
      end

    Project.start()
    NervesDockerTs.Shell.run(Project.package!(), cmd: cmd)
  end
end
