FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml constraints.txt README.md ./
COPY cds ./cds
COPY cards ./cards
RUN pip install --no-cache-dir -c constraints.txt '.[postgres]' && useradd --system cds
USER cds
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["tacrolimus-cds", "serve", "--host", "0.0.0.0", "--port", "8000"]
