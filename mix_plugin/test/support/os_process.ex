defmodule NervesDockerTs.TestOsProcess do
  @moduledoc false
  # Whether an OS process (the sidecar's node) still runs, for tests that
  # check it ends with its owner.

  @doc "Running, not exited: a zombie (state Z, exited but not yet reaped by whoever inherited it) has exited already."
  def alive?(pid) do
    case File.read("/proc/#{pid}/stat") do
      {:ok, stat} -> stat |> String.split(") ") |> List.last() |> String.first() != "Z"
      {:error, _} -> match?({_, 0}, System.cmd("kill", ["-0", to_string(pid)], stderr_to_stdout: true))
    end
  end
end
