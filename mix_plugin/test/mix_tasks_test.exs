defmodule NervesDockerTs.MixTasksTest do
  # The plugin's own Mix tasks against the real sidecar and engine.
  use ExUnit.Case, async: false

  setup do
    shell = Mix.shell()
    Mix.shell(Mix.Shell.Process)
    host = System.get_env("DOCKER_HOST")

    on_exit(fn ->
      Mix.shell(shell)
      if host, do: System.put_env("DOCKER_HOST", host), else: System.delete_env("DOCKER_HOST")
    end)
  end

  test "ping shows the sidecar and the engine it finds" do
    Mix.Tasks.NervesDockerTs.Ping.run([])
    assert_received {:mix_shell, :info, ["sidecar " <> _]}
    assert_received {:mix_shell, :info, ["engine: " <> engine]}
    assert engine =~ ~r/\(API \d+\.\d+\) at /
  end

  # It printed the error and exited 0, so a script's `mix nerves_docker_ts.ping && ...` went on.
  test "ping fails when no engine answers" do
    System.put_env("DOCKER_HOST", "tcp://127.0.0.1:1")
    err = assert_raise Mix.Error, fn -> Mix.Tasks.NervesDockerTs.Ping.run([]) end
    assert Exception.message(err) =~ "tcp://127.0.0.1:1"
    assert_received {:mix_shell, :info, ["sidecar " <> _]}
  end
end
