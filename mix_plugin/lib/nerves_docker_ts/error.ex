defmodule NervesDockerTs.Error do
  @moduledoc """
  An error reported by the sidecar (or by the port owner about the sidecar).

  Carries the machine-readable `code`, the human `reason` and an optional
  `hint` that says what to do. Mix prints it like a `Mix.raise/1` error
  (no stacktrace) because the struct has `mix: true`.
  """
  defexception [:code, :reason, :hint, mix: true]

  @type t :: %__MODULE__{code: String.t(), reason: String.t(), hint: String.t() | nil}

  @impl true
  def message(%__MODULE__{reason: reason, hint: hint}) when is_binary(hint) and hint != "",
    do: "#{reason}\n\n#{hint}"

  def message(%__MODULE__{reason: reason}), do: reason

  @doc "Builds the exception from an `error` map of the protocol."
  @spec from_reply(map()) :: t()
  def from_reply(%{} = err) do
    %__MODULE__{
      code: to_string(Map.get(err, "code", "internal")),
      reason: to_string(Map.get(err, "message", "unknown error")),
      hint: Map.get(err, "hint")
    }
  end
end
