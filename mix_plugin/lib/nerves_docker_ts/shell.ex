defmodule NervesDockerTs.Shell do
  @moduledoc """
  `mix nerves.system.shell` for `NervesDockerTs.BuildRunner`: an interactive
  bash in the package's build container (same image, mounts, environment,
  working directory and user as a build), with the build directory prepared
  by create-build.sh first and the Nerves prompt. The sidecar drives the
  user's terminal directly (raw mode, window size, Ctrl-C to the shell);
  see `NervesDockerTs.ShellTerminal` for how the VM keeps off the terminal
  meanwhile. The container is removed however the shell ends.

  Returns `:ok` when the shell exits with status 0 and raises
  "Nerves shell exited with status N" otherwise.

  Options:
    * `:cmd` - a one-off command (list of strings) instead of the shell;
      without a terminal its output is printed here
    * `:tty_path` - the terminal to use (default: the VM's own)
  """

  alias NervesDockerTs.{Output, ShellTerminal, Sidecar, Spec}

  @spec run(map(), keyword()) :: :ok
  def run(pkg, opts \\ []) do
    runner_opts = (pkg.config || [])[:build_runner_opts] || []
    session = Base.url_encode64(:crypto.strong_rand_bytes(12), padding: false)
    tty = Keyword.get(opts, :tty_path) || ShellTerminal.path() || "/dev/tty"

    # The spec is computed while Node starts; a failed start is the request's error.
    sidecar =
      case Sidecar.start_link(await_hello: false) do
        {:ok, pid} -> pid
        {:error, err} -> raise err
      end

    forward = fn data ->
      Sidecar.request(sidecar, "shell", %{"session" => session, "input" => {:bin, data}},
        on_event: fn _, _ -> :ok end,
        on_prompt: fn _ -> nil end
      )
    end

    result =
      try do
        # The VM stops reading the terminal from the start, not at the attach: keys typed while
        # the build dir is prepared are relayed (OTP <= 25) or left to the sidecar (OTP >= 26).
        Process.put({__MODULE__, :terminal}, ShellTerminal.acquire(tty, forward))

        args =
          pkg
          |> Spec.from_package(runner_opts)
          |> Map.merge(%{"session" => session, "tty_path" => tty, "cmd" => Keyword.get(opts, :cmd)})

        # A one-off command's output (no terminal) arrives as log events, which Output prints.
        Sidecar.request(sidecar, "shell", args,
          on_event: &Output.event/2,
          on_prompt: &prompt(&1, tty, forward)
        )
      after
        ShellTerminal.release(Process.delete({__MODULE__, :terminal}))
        Sidecar.stop(sidecar)
      end

    case result do
      {:ok, %{"status" => 0}} -> :ok
      {:ok, %{"status" => status}} -> Mix.raise("Nerves shell exited with status #{status}")
      {:error, err} -> raise err
    end
  end

  # The sidecar is about to attach (every event before is shown): say how input arrives.
  defp prompt(%{"kind" => "shell_attach"}, tty, forward) do
    state = Process.get({__MODULE__, :terminal}) || ShellTerminal.acquire(tty, forward)
    Process.put({__MODULE__, :terminal}, state)
    Atom.to_string(state.mode)
  end

  # A question (the build image?) is answered on the terminal: the VM reads it again meanwhile.
  defp prompt(other, tty, forward) do
    ShellTerminal.release(Process.delete({__MODULE__, :terminal}))

    try do
      Output.prompt(other)
    after
      Process.put({__MODULE__, :terminal}, ShellTerminal.acquire(tty, forward))
    end
  end
end
